import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import Foundation

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the real engine on a virtual clock against the configured source, with as-of reads.",
        discussion: """
            Reads every case with its history once, then at each step sees each case as it stood at that instant \
            and runs the engine as the daemon would. It has no side effects unless --spool or --journal is given. \
            Times are ISO 8601 (2026-03-02T00:00:00+08:00).
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Start of the virtual clock (ISO 8601).") var from: String
    @Option(help: "End of the virtual clock (ISO 8601).") var to: String
    @Option(help: "Tick length, e.g. 15m or 1h.") var step: String = "15m"
    @Option(help: "text or json (one JSON object per notice).") var format: DemoCommand.OutputFormat = .text
    @Option(help: "Also write each notice's email into this Maildir spool.") var spool: String?
    @Flag(help: "Also write each notice to the journal.") var journal = false

    func run() async throws {
        let parser = ISO8601DateFormatter()
        guard let start = parser.date(from: from), let end = parser.date(from: to), start <= end else {
            throw ValidationError("--from and --to must be ISO 8601 instants, e.g. 2026-03-02T00:00:00+08:00, with --from first")
        }
        guard case .success(let span) = Span.parse(step), let seconds = span.fixedSeconds, !span.isBusiness, seconds > 0 else {
            throw ValidationError("--step must be a wall-clock duration such as 15m or 1h")
        }
        let result = ConfigLoader.load(directory: options.config)
        for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
        guard let configuration = result.configuration, let settings = configuration.source else {
            print("simulate: \(options.config) has no usable source section", to: &standardError)
            throw ExitCode.failure
        }
        var mailer: NoticeMailer?
        if let spool {
            let (renderer, problems) = NoticeRenderer.load(for: configuration)
            guard let renderer else {
                for problem in problems { print(problem, to: &standardError) }
                throw ExitCode.failure
            }
            let base = configuration.mail ?? MailSettings(fromAddress: "escalator@localhost.localdomain")
            mailer = NoticeMailer(settings: base.with(spool: spool), renderer: renderer)
        }
        let writer = journal ? EventWriter(mode: .journal) : nil
        let read = try await readEveryCase(settings, command: "simulate")
        let batch = read.batch
        let rules = read.rules(configuration.rules, command: "simulate")
        guard mailer != nil || writer != nil else {
            // Output only: each line is made on the core that decided the notice.
            let format = format
            try Simulation.lines(cases: batch.cases, rules: rules, from: start, to: end, step: TimeInterval(seconds)) { notice, rules, out in
                switch format {
                case .json: Simulation.json(notice, rules: rules, into: &out)
                case .text: out += "\(UTCTimestamp.format(notice.dueAt))  \(NoticeText.message(notice))".utf8
                }
            } write: { bytes in
                try FileHandle.standardOutput.write(contentsOf: bytes)
            }
            return
        }
        try Simulation.run(cases: batch.cases, rules: rules, from: start, to: end, step: TimeInterval(seconds)) { notice, subject, state in
            if let mailer { try mailer.spool(notice, subject: subject, state: state, rules: rules) }
            writer?.write(notice, emailMessageID: mailer?.messageID(notice))
            switch format {
            case .json: print(Simulation.json(notice, rules: rules))
            case .text: print("\(UTCTimestamp.format(notice.dueAt))  \(NoticeText.message(notice))")
            }
        }
    }
}
