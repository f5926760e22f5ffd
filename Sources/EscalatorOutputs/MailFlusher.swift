import EscalatorConfig
import Foundation

/// Hands spooled messages to a sendmail-compatible command. Sent mail moves to cur/; mail that fails is retried
/// with backoff and, after the last attempt, moved to failed/. Mail that was not sent is never deleted.
public struct MailFlusher: Sendable {
    public struct Report: Sendable, Equatable {
        public var sent: [String] = []
        /// Failed this time, to be tried again later.
        public var deferred: [String] = []
        /// Given up: moved to failed/.
        public var failed: [String] = []
        /// Not yet due for another try.
        public var waiting: [String] = []
        /// The command's complaint per failing message.
        public var errors: [String: String] = [:]
    }

    public let spool: MailSpool
    public let command: [String]
    public let maxAttempts: Int
    /// The first retry waits this long; each next one twice as long, up to `maxDelay`.
    public let firstDelay: TimeInterval
    public let maxDelay: TimeInterval

    public init(spool: MailSpool, command: [String], maxAttempts: Int, firstDelay: TimeInterval = 60, maxDelay: TimeInterval = 3600) {
        self.spool = spool
        self.command = command
        self.maxAttempts = maxAttempts
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
    }

    struct RetryState {
        var attempts: Int
        var next: Date

        init(attempts: Int, next: Date) {
            self.attempts = attempts
            self.next = next
        }

        init?(text: String) {
            let parts = text.split(whereSeparator: \.isWhitespace)
            guard parts.count >= 2, let attempts = Int(parts[0]), let next = Double(parts[1]) else { return nil }
            self.attempts = attempts
            self.next = Date(timeIntervalSince1970: next)
        }

        var text: String { "\(attempts) \(Int(next.timeIntervalSince1970))\n" }
    }

    /// Tries every message in new/ that is due at `now`.
    public func flush(now: Date) throws -> Report {
        try spool.prepare()
        var report = Report()
        let names = try FileManager.default.contentsOfDirectory(atPath: spool.path(.new)).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            let retryPath = "\(spool.path(.retry))/\(name)"
            var state = (try? String(contentsOfFile: retryPath, encoding: .utf8)).flatMap(RetryState.init(text:)) ?? RetryState(attempts: 0, next: .distantPast)
            if state.next > now {
                report.waiting.append(name)
                continue
            }
            let result: Subprocess.Result
            do {
                result = try Subprocess.run(command, input: "\(spool.path(.new))/\(name)")
            } catch {
                result = Subprocess.Result(status: 127, output: "cannot run \(command.first ?? "sendmail"): \(error)")
            }
            if result.succeeded {
                try spool.move(name, from: .new, to: .cur)
                unlink(retryPath)
                report.sent.append(name)
                continue
            }
            state.attempts += 1
            let complaint = result.output.split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
            report.errors[name] = "exit status \(result.status): \(complaint)"
            if state.attempts >= maxAttempts {
                try spool.move(name, from: .new, to: .failed)
                unlink(retryPath)
                report.failed.append(name)
            } else {
                state.next = now.addingTimeInterval(min(maxDelay, firstDelay * pow(2, Double(state.attempts - 1))))
                try state.text.write(toFile: retryPath, atomically: true, encoding: .utf8)
                report.deferred.append(name)
            }
        }
        return report
    }
}
