import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import Foundation
import Systemd

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay the Trophy-Trove order (and 200 background orders) through the real engine and outputs.",
        discussion: """
            Creates DIR/orders.db (the story as order TT-1001, Day 1 = Monday 2026-03-02 in Asia/Manila, plus \
            generated orders) and DIR/config/ (the shipped rules reading that database, spooling to DIR/spool). \
            Then it runs the engine over the 54 days on a virtual clock: every notice is written to the Maildir \
            spool, and to the journal when one is reachable (else the story's notices go to standard error). \
            It prints when escalator escalated next to when the customer had to chase.
            """)

    @Option(help: "Where to write the demo database, configuration and spool.") var out: String = "demo-out"
    @Option(help: "The rules to run (the shipped configuration).") var rules: String = "Config"
    @Option(help: "text: the story's timeline; json: every notice as one JSON line.") var format: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func run() async throws {
        let demo = Demo(rulesDirectory: rules, outputDirectory: out)
        let configuration: Configuration
        do {
            configuration = try demo.prepare()
        } catch {
            print("demo: \(error)", to: &standardError)
            throw ExitCode.failure
        }
        guard let sourceSettings = configuration.source, let mail = configuration.mail else { throw ExitCode.failure }
        let read = try await readEveryCase(sourceSettings, command: "demo")
        let batch = read.batch
        let (renderer, templateProblems) = NoticeRenderer.load(for: configuration)
        guard let renderer else {
            for problem in templateProblems { print(problem, to: &standardError) }
            throw ExitCode.failure
        }
        let mailer = NoticeMailer(settings: mail.with(spool: demo.spoolPath), renderer: renderer)
        let toJournal = Journal.isReachable
        let writer = EventWriter(mode: toJournal ? .journal : EventWriter.automaticMode())
        let rules = read.rules(configuration.rules, command: "demo")
        var story: [Notice] = []
        var total = 0
        var mailed = 0
        // Emails go to the spool in batches, one flush to disk per batch.
        var pending: [(name: String, contents: String)] = []
        func flush() throws {
            let result = mailer.spool.write(batch: pending)
            if let failure = result.failure { throw failure.error }
            mailed += result.stored.count
            pending.removeAll(keepingCapacity: true)
        }
        let started = Date()
        try Simulation.run(
            cases: batch.cases, rules: rules, from: DemoStory.day(1, "00:00"), to: DemoStory.day(57, "12:00"), step: 900
        ) { notice, subject, state in
            total += 1
            if let text = mailer.message(notice, subject: subject, state: state, rules: rules)?.rendered() {
                pending.append((MailSpool.fileName(noticeID: notice.id), text))
                if pending.count >= 1000 { try flush() }
            }
            let isStory = notice.caseID == DemoStory.order.id
            if toJournal || (isStory && format == .text) {
                writer.write(notice, emailMessageID: mailer.messageID(notice))
            }
            if isStory { story.append(notice) }
            if format == .json { print(Simulation.json(notice, rules: rules)) }
        }
        try flush()
        guard format == .text else { return }
        printTimeline(story)
        let seconds = Date().timeIntervalSince(started)
        print("""

            \(total) notices for \(batch.cases.count) orders in \(String(format: "%.1f", seconds)) s; \(mailed) emails in \(demo.spoolPath)/new \
            (\(toJournal ? "and in the journal: journalctl -t escalator" : "no journal here: the story's notices went to standard error")).
            The demo configuration is \(configuration.directory)/; check it with: escalator check --config \(configuration.directory)
            Watch the real daemon work on the same orders today (Ctrl-C stops it; state and spool go to \(demo.liveDirectory)/):
                escalator run --config \(configuration.directory)
            """)
    }

    /// "Day  3 Wed 11:30".
    static func day(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = DemoStory.manila
        let first = calendar.startOfDay(for: DemoStory.day(1, "00:00"))
        let number = (calendar.dateComponents([.day], from: first, to: calendar.startOfDay(for: date)).day ?? 0) + 1
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = DemoStory.manila
        formatter.dateFormat = "EEE HH:mm"
        return "Day \(String(number).count == 1 ? " " : "")\(number) \(formatter.string(from: date))"
    }

    func printTimeline(_ notices: [Notice]) {
        struct Line { let at: Date; let who: String; let text: String }
        var lines = notices.map { notice -> Line in
            let cc = notice.cc.isEmpty ? "" : " (cc \(notice.cc.map(\.id).joined(separator: ", ")))"
            let to = notice.to.map(\.id).joined(separator: ", ")
            return Line(at: notice.dueAt, who: "escalator", text: "\(notice.policy)\(notice.subject.map { " [\($0)]" } ?? ""): \(notice.trigger.rawValue) step \(notice.step)/\(notice.stepCount) → \(to)\(cc)")
        }
        lines += DemoStory.chases.map { Line(at: $0.at, who: "CUSTOMER", text: "\($0.kind == .escalationRequest ? "asks for the manager" : "chases"): \"\($0.text ?? "")\"") }
        lines.sort { ($0.at, $0.who) < ($1.at, $1.who) }
        print("Order TT-1001: 100 custom paperweights. Who noticed first?\n")
        for line in lines { print("\(Self.day(line.at))  \(line.who.padding(toLength: 9, withPad: " ", startingAt: 0))  \(line.text)") }
        if let supervisor = notices.first(where: { ($0.to + $0.cc).contains { $0.id == "rep5" } }),
            let chase = DemoStory.chases.first
        {
            let days = Int(chase.at.timeIntervalSince(supervisor.dueAt) / 86_400)
            print("\nThe supervisor (rep5) heard on \(Self.day(supervisor.dueAt)), \(days) days before the customer first had to chase (\(Self.day(chase.at))).")
        }
        if let manager = notices.first(where: { $0.to.contains { $0.id == "mgr1" } }),
            let demand = DemoStory.chases.first(where: { $0.kind == .escalationRequest })
        {
            print("The manager (mgr1) was brought in on \(Self.day(manager.dueAt)); the customer demanded him on \(Self.day(demand.at)).")
        }
    }
}
