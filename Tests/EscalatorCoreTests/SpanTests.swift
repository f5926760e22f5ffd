import EscalatorCore
import Testing

@Suite struct SpanTests {
    @Test(arguments: [
        ("4 business hours", Span(4, .hours, business: true)),
        ("2 business days", Span(2, .days, business: true)),
        ("1 business day", Span(1, .days, business: true)),
        ("30 working minutes", Span(30, .minutes, business: true)),
        ("90m", Span.wall(seconds: 5400)),
        ("3d", Span.wall(seconds: 259_200)),
        ("1h30m", Span.wall(seconds: 5400)),
        ("2w", Span.wall(seconds: 1_209_600)),
        ("45 minutes", Span.wall(seconds: 2700)),
        ("1 day", Span.wall(seconds: 86_400)),
        ("0", Span.zero),
        ("  2 Business Days ", Span(2, .days, business: true)),
    ])
    func parsesDurations(text: String, expected: Span) throws {
        #expect(try Span.parse(text).get() == expected)
    }

    @Test(arguments: [
        ("", "empty duration: expected a number and a unit, such as \"90m\", \"3d\", \"4 business hours\" or \"2 business days\""),
        ("4", "invalid duration \"4\": a unit is required, e.g. \"4m\" or \"4 business hours\""),
        ("2 buisness days", "invalid duration \"2 buisness days\": expected \"business\" or \"working\" before the unit, found \"buisness\"; did you mean \"business\"?"),
        ("2 business weeks", "invalid duration \"2 business weeks\": business weeks are ambiguous; use business days"),
        ("2 business seconds", "invalid duration \"2 business seconds\": the unit of a business span must be minutes, hours or days"),
        ("3 fortnights", "invalid duration \"3 fortnights\": unknown unit \"fortnights\""),
        ("3 hourz", "invalid duration \"3 hourz\": unknown unit \"hourz\"; did you mean \"hours\"?"),
        ("two days", "invalid duration \"two days\": \"two\" is not a whole number"),
        ("-3 business days", "invalid duration \"-3 business days\": \"-3\" is not a whole number"),
        ("1h30", "invalid duration \"1h30\": expected a number and a unit, such as \"90m\", \"3d\", \"4 business hours\" or \"2 business days\""),
        ("2 business", "invalid duration \"2 business\": missing the unit after \"business\" (minutes, hours or days)"),
    ])
    func rejectsWithAClearMessage(text: String, message: String) {
        guard case .failure(let error) = Span.parse(text) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.message == message)
    }

    @Test func describesItself() {
        #expect(Span(1, .days, business: true).description == "1 business day")
        #expect(Span(4, .hours, business: true).description == "4 business hours")
        #expect(Span.wall(seconds: 5400).description == "1h30m")
        #expect(Span.formatWall(seconds: 186_300) == "2d3h45m")
    }
}
