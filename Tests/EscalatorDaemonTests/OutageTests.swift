import EscalatorOutputs
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import PostgresNIO
import Testing

/// The real daemon against a real PostgreSQL that goes away and comes back.
@Suite(.serialized) struct SourceOutageTests {
    @Test func theDaemonRidesOutADatabaseOutageAndCatchesUp() async throws {
        let server = try PostgresServer()
        defer { server.destroy() }
        try server.psql("CREATE DATABASE shop")
        let now = Date()
        try await SyntheticOrders(cases: 40, seed: 3, days: 10, end: now).writePostgres(
            PostgresConnection.Configuration(host: "127.0.0.1", port: server.port, username: "postgres", password: server.superuserPassword, database: "shop", tls: .disable))

        let directory = try TemporaryDirectory("escalator-outage")
        defer { directory.remove() }
        let config = "\(directory.path)/config"
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: config)
        try server.superuserPassword.write(toFile: "\(directory.path)/pw", atomically: true, encoding: .utf8)
        let main = try String(contentsOfFile: "\(config)/escalator.yaml", encoding: .utf8)
        try (main + """

            \(ReferenceSchema.sourceSection([
                "driver: postgres", "host: 127.0.0.1", "port: \(server.port)", "database: shop", "user: postgres",
                "password_file: \(directory.path)/pw", "sslmode: disable", "connect_timeout: 2s", "poll_every: 1s",
            ]))\
            mail:
              from: escalator@shop.example
              spool: \(directory.path)/spool
            state:
              directory: \(directory.path)/state

            """).write(toFile: "\(config)/escalator.yaml", atomically: true, encoding: .utf8)

        let socket = try NotifySocket(path: "\(directory.path)/notify.sock")
        let daemon = try BackgroundProcess([escalatorBinary, "run", "--config", config], environment: ["NOTIFY_SOCKET": socket.path])
        defer { daemon.stop() }
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains(" open · ") == true && $0["STATUS"]?.hasSuffix("source ok") == true }, "\(daemon.log)")

        // The database goes away: the daemon stays up and says it is degraded.
        try server.stop()
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains("source DOWN") == true }, "\(daemon.log.suffix(3000))")
        #expect(socket.messages.last?["STATUS"]?.contains("(degraded)") == true)
        #expect(kill(daemon.pid, 0) == 0)

        // It comes back, with an order that arrived meanwhile: the daemon reads it and escalates it.
        try server.start()
        let opened = ISO8601DateFormatter().string(from: now.addingTimeInterval(-5 * 86_400))
        try server.psql("INSERT INTO orders (id, kind, status, owner, sales_rep, opened_at) VALUES ('LATE-1', 'custom-order', 'open', 'rep1', 'rep2', '\(opened)')", database: "shop")
        #expect(socket.receive(timeout: 120) { $0["STATUS"]?.hasSuffix("source ok") == true }, "\(daemon.log.suffix(3000))")
        let store = try StateStore(directory: "\(directory.path)/state", readOnly: true)
        let deadline = Date().addingTimeInterval(30)
        while try !store.queuedNoticeIDs().contains(where: { $0.hasPrefix("LATE-1/") }) && Date() < deadline { usleep(100_000) }
        #expect(try store.queuedNoticeIDs().contains { $0.hasPrefix("LATE-1/") }, "the order that arrived during the outage was not escalated")

        // The database password reached neither the command line, the environment, the journal nor an email.
        let secret = server.superuserPassword
        for part in ["cmdline", "environ"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(daemon.pid)/\(part)"))
            #expect(!String(decoding: data, as: UTF8.self).contains(secret), "the password is in /proc/PID/\(part)")
        }
        let mail = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/spool/new")
        #expect(!mail.isEmpty)
        for name in mail {
            #expect(!(try String(contentsOfFile: "\(directory.path)/spool/new/\(name)", encoding: .utf8)).contains(secret))
        }

        kill(daemon.pid, SIGTERM)
        #expect(daemon.wait(timeout: 60) == .status(0))
        #expect(!daemon.log.contains(secret), "the password is in the daemon's log")
        // One entry when it went down and one when it came back, however many retries failed in between.
        let log = daemon.log
        #expect(log.components(separatedBy: "The order database is unreachable").count - 1 == 1, "\(log.suffix(3000))")
        #expect(log.components(separatedBy: "The order database is reachable again").count - 1 == 1)
    }
}

/// The real daemon with its spool on a tiny tmpfs (in a private mount namespace): notices wait in the outbox
/// while the disk is full and all go out, once, when there is room.
@Suite(.serialized) struct FullSpoolTests {
    @Test func aFullSpoolDiskHoldsNoticesInTheOutboxUntilThereIsRoom() throws {
        let fixture = try DaemonFixture(background: 30)
        defer { fixture.directory.remove() }
        let spool = fixture.spoolDirectory
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let socket = try NotifySocket(path: "\(fixture.directory.path)/notify.sock")
        let daemon = try BackgroundProcess(
            ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
             "mount -t tmpfs -o size=24k escalator-full-spool '\(spool)' && exec '\(escalatorBinary)' run --config '\(fixture.configDirectory)'"],
            environment: ["NOTIFY_SOCKET": socket.path])
        defer { daemon.stop() }
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains(" open · ") == true }, "\(daemon.log)")
        let store = try StateStore(directory: fixture.stateDirectory, readOnly: true)
        let queued = try store.queuedNoticeIDs()
        #expect(queued.count > 20)
        let failing = Date().addingTimeInterval(30)
        while !daemon.log.contains("No space left on device") && Date() < failing { usleep(100_000) }
        #expect(daemon.log.contains("Delivering notices fails: email spool:"), "\(daemon.log.suffix(2000))")
        #expect(try store.outboxDepth() > 0)

        // Room again (the tmpfs grows): everything goes out, once.
        let grow = try Subprocess.run(["/usr/bin/nsenter", "-t", String(daemon.pid), "-m", "mount", "-o", "remount,size=20m", spool])
        #expect(grow.succeeded, "\(grow.output)")
        let drained = Date().addingTimeInterval(120)
        while try store.outboxDepth() > 0 && Date() < drained { usleep(200_000) }
        #expect(try store.outboxDepth() == 0)
        let inNamespace = "/proc/\(daemon.pid)/root\(spool)/new"
        let files = try FileManager.default.contentsOfDirectory(atPath: inNamespace)
        let mailed = try store.queuedNoticeIDs()
        #expect(Set(files) == Set(mailed.map { MailSpool.fileName(noticeID: $0) }))
        #expect(files.count == mailed.count)
        #expect(daemon.log.contains("Delivering notices works again"))
        #expect(daemon.log.components(separatedBy: "Delivering notices fails").count - 1 == 1, "logged on every retry")
    }
}
