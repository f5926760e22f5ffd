import EscalatorOutputs
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import Testing

@testable import EscalatorDaemon

/// deploy/escalator.service, installed into a real systemd (booted in private namespaces) with the test binary,
/// the shipped rules and the demo orders.
@Suite(.serialized) struct SystemdEndToEndTests {
    static let unit = "escalator.service"
    /// Where the test binary is installed inside the sandbox.
    static let sandboxBinary = "/var/lib/escalator-bin/escalator"

    /// Installs the unit the way install.sh does, with the built binary in place of /usr/bin/escalator.
    static func install(into sandbox: SystemdSandbox, orders: String) throws {
        let root = sandbox.root
        let manager = FileManager.default
        try manager.createDirectory(atPath: "\(root)/var/lib/escalator-orders", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try manager.copyItem(atPath: orders, toPath: "\(root)/var/lib/escalator-orders/orders.db")
        chmod("\(root)/var/lib/escalator-orders/orders.db", 0o644)
        try manager.createDirectory(atPath: "\(root)/etc/escalator", withIntermediateDirectories: true)
        for item in try manager.contentsOfDirectory(atPath: "\(repositoryRoot)/Config") where item != "tests" {
            try manager.copyItem(atPath: "\(repositoryRoot)/Config/\(item)", toPath: "\(root)/etc/escalator/\(item)")
        }
        let main = try String(contentsOfFile: "\(root)/etc/escalator/escalator.yaml", encoding: .utf8)
        try (main + """

            \(ReferenceSchema.sourceSection(["driver: sqlite", "path: /var/lib/escalator-orders/orders.db"]))\
            mail:
              from: escalator@trophy.example

            """).write(toFile: "\(root)/etc/escalator/escalator.yaml", atomically: true, encoding: .utf8)
        for argv in [
            ["systemd-sysusers", "\(repositoryRoot)/deploy/escalator.sysusers"],
            ["systemd-tmpfiles", "--create", "\(repositoryRoot)/deploy/escalator.tmpfiles"],
            ["chown", "-R", "root:escalator", "/etc/escalator"],
            ["chmod", "-R", "g+rX,o-rwx", "/etc/escalator"],
        ] {
            let result = try sandbox.run(argv)
            #expect(result.succeeded, "\(argv): \(result.output)")
        }
        // The unit's PrivateTmp= hides the host's /tmp, where a checkout may live: the binary goes into the sandbox.
        try manager.createDirectory(atPath: "\(root)/var/lib/escalator-bin", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        // Copied by cp, not in this process: a child forked meanwhile by a parallel test would inherit our
        // descriptor open for writing, and exec would then fail with "Text file busy".
        let copied = try Subprocess.run(["/bin/cp", escalatorBinary, "\(root)\(Self.sandboxBinary)"])
        #expect(copied.succeeded, "\(copied.output)")
        let unit = try String(contentsOfFile: "\(repositoryRoot)/deploy/escalator.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/escalator", with: Self.sandboxBinary)
        try unit.write(toFile: "\(root)/etc/systemd/system/\(Self.unit)", atomically: true, encoding: .utf8)
        #expect(try sandbox.run(["systemctl", "daemon-reload"]).succeeded)
    }

    @Test func startEscalateReloadCrashAndStopUnderARealSystemd() throws {
        let fixture = try DaemonFixture(background: 20)
        defer { fixture.directory.remove() }
        let sandbox = try SystemdSandbox(repositoryRoot: repositoryRoot)
        defer { sandbox.stop() }
        try Self.install(into: sandbox, orders: fixture.demo.databasePath)
        let spool = "\(sandbox.root)/var/spool/escalator/new"
        func spooled() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []) }
        // `escalator status` inside the sandbox: SQLite resolves /proc/PID/root to the host's root, so the host
        // cannot open the store through it.
        func outboxDepth() -> Int? {
            guard let result = try? sandbox.run([Self.sandboxBinary, "status", "--config", "/etc/escalator", "--format", "json"]), result.succeeded,
                let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
                let outbox = object["outbox"] as? [String: Any]
            else { return nil }
            return outbox["waiting"] as? Int
        }

        // Start: active (running), the status line in StatusText.
        let start = try sandbox.run(["systemctl", "start", Self.unit])
        let startLog = try sandbox.run(["journalctl", "-u", Self.unit, "--no-pager"]).output
        try #require(start.succeeded, "\(start.output)\n\(startLog)")
        #expect(try sandbox.wait(timeout: 60) { try sandbox.show(Self.unit, ["StatusText"])["StatusText"]?.contains(" open · ") == true })
        var state = try sandbox.show(Self.unit, ["ActiveState", "SubState", "StatusText", "MainPID"])
        #expect(state["ActiveState"] == "active" && state["SubState"] == "running")
        #expect(state["StatusText"]?.hasPrefix("rules v1 · ") == true && state["StatusText"]?.hasSuffix("· source ok") == true, "\(state)")
        let firstPID = state["MainPID"]

        // Escalations reach the journal with their fields, and mail reaches the spool: one email per notice.
        #expect(sandbox.wait(timeout: 60) { outboxDepth() == 0 })
        let entries = try sandbox.journal(Self.unit)
        let notices = entries.filter { $0["ESCALATOR_NOTICE_ID"] != nil }
        #expect(!notices.isEmpty)
        for entry in notices.prefix(20) {
            #expect(entry["ESCALATOR_CASE"] as? String != nil && entry["ESCALATOR_POLICY"] as? String != nil)
            #expect((entry["MESSAGE_ID"] as? String).map { id in EventID.allCases.contains { $0.messageID == id } } == true)
        }
        let mailed = Set(notices.filter { $0["ESCALATOR_EMAIL_MESSAGE_ID"] != nil }.compactMap { $0["ESCALATOR_NOTICE_ID"] as? String })
        #expect(!mailed.isEmpty)
        #expect(spooled() == Set(mailed.map { MailSpool.fileName(noticeID: $0) }))

        // A broken rule file: the reload fails, the old rules stay, and the journal names the file and line.
        let policies = "\(sandbox.root)/etc/escalator/rules.d/40-policies.yaml"
        let good = try String(contentsOfFile: policies, encoding: .utf8)
        try (good + "\n  - name: broken\n    measure: nonsense\n").write(toFile: policies, atomically: false, encoding: .utf8)
        let broken = try sandbox.run(["systemctl", "reload", Self.unit])
        #expect(!broken.succeeded)
        state = try sandbox.show(Self.unit, ["ActiveState", "StatusText"])
        #expect(state["ActiveState"] == "active")
        #expect(state["StatusText"]?.hasPrefix("rules v1 · ") == true)
        let messages = try sandbox.journal(Self.unit).compactMap { $0["MESSAGE"] as? String }
        #expect(messages.contains { $0.contains("/etc/escalator/rules.d/40-policies.yaml:") && $0.contains("nonsense") })

        // A valid change is applied.
        try good.write(toFile: policies, atomically: false, encoding: .utf8)
        let valid = try sandbox.run(["systemctl", "reload", Self.unit])
        #expect(valid.succeeded, "\(valid.output)")
        #expect(try sandbox.show(Self.unit, ["StatusText"])["StatusText"]?.hasPrefix("rules v2 · ") == true)

        // SIGKILL: systemd restarts the daemon, which sends nothing twice.
        let before = spooled()
        #expect(try sandbox.run(["systemctl", "kill", "-s", "SIGKILL", Self.unit]).succeeded)
        #expect(try sandbox.wait(timeout: 60) {
            let now = try sandbox.show(Self.unit, ["ActiveState", "SubState", "NRestarts", "MainPID"])
            return now["NRestarts"] == "1" && now["SubState"] == "running" && now["MainPID"] != firstPID
        })
        #expect(sandbox.wait(timeout: 60) { outboxDepth() == 0 })
        let after = spooled()
        #expect(after.isSuperset(of: before))
        let afterIDs = Set(try sandbox.journal(Self.unit).filter { $0["ESCALATOR_EMAIL_MESSAGE_ID"] != nil }.compactMap { $0["ESCALATOR_NOTICE_ID"] as? String })
        #expect(after == Set(afterIDs.map { MailSpool.fileName(noticeID: $0) }))
        let messageIDs = try after.map { name in
            try #require(OutboxDelivery.messageID(try String(contentsOfFile: "\(spool)/\(name)", encoding: .utf8)), "\(name) has no Message-ID")
        }
        #expect(Set(messageIDs).count == after.count)

        // Stop: a clean exit.
        #expect(try sandbox.run(["systemctl", "stop", Self.unit]).succeeded)
        state = try sandbox.show(Self.unit, ["ActiveState", "Result", "ExecMainStatus"])
        #expect(state["ActiveState"] == "inactive")
        #expect(state["Result"] == "success")
        #expect(state["ExecMainStatus"] == "0")
    }
}

@Suite struct UnitFileTests {
    /// Every unit in deploy/, with the binary path pointed at the build, through `systemd-analyze verify`:
    /// unknown keys are only warnings there, so stderr must be empty too. (Man pages are checked by install.sh's
    /// staging test, not here: verify would look them up on this machine.)
    @Test(arguments: ["escalator.service", "escalator-mail.service", "escalator-mail.path", "escalator-mail.timer"])
    func verifyIsSilent(unit: String) throws {
        let directory = try TemporaryDirectory("escalator-units")
        defer { directory.remove() }
        for name in ["escalator.service", "escalator-mail.service", "escalator-mail.path", "escalator-mail.timer"] {
            let text = try String(contentsOfFile: "\(repositoryRoot)/deploy/\(name)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/bin/escalator", with: escalatorBinary)
            try text.write(toFile: "\(directory.path)/\(name)", atomically: true, encoding: .utf8)
        }
        let result = try Subprocess.run(["/bin/sh", "-c", "systemd-analyze verify --man=no '\(directory.path)/\(unit)' 2>&1 >/dev/null"])
        #expect(result.succeeded)
        #expect(result.output.isEmpty, "\(result.output)")
    }

    @Test func theServiceIsHardenedToAnExposureOfAtMostTwo() throws {
        let result = try Subprocess.run(["/usr/bin/systemd-analyze", "security", "--offline=yes", "\(repositoryRoot)/deploy/escalator.service"])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(result.output)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 2.0, "\(line)")
    }

    @Test func installIsIdempotentKeepsEditedConfigurationAndUninstallKeepsState() throws {
        let stage = try TemporaryDirectory("escalator-stage")
        defer { stage.remove() }
        let manuals = "\(stage.path)/manuals"
        try FileManager.default.createDirectory(atPath: manuals, withIntermediateDirectories: true)
        try ".TH ESCALATOR 1\n".write(toFile: "\(manuals)/escalator.1", atomically: true, encoding: .utf8)
        let root = "\(stage.path)/root"
        let install = ["/bin/bash", "\(repositoryRoot)/deploy/install.sh", "--root", root, "--binary", escalatorBinary, "--manuals", manuals]
        let first = try Subprocess.run(install)
        #expect(first.succeeded, "\(first.output)")
        for path in [
            "/usr/bin/escalator", "/etc/systemd/system/escalator.service", "/usr/lib/sysusers.d/escalator.conf",
            "/usr/lib/tmpfiles.d/escalator.conf", "/usr/lib/systemd/catalog/escalator.catalog", "/usr/share/man/man1/escalator.1.gz",
            "/usr/share/bash-completion/completions/escalator", "/usr/share/zsh/vendor-completions/_escalator",
            "/etc/escalator/escalator.yaml", "/etc/escalator/rules.d/40-policies.yaml",
        ] {
            #expect(FileManager.default.fileExists(atPath: root + path), "\(path) was not installed")
        }
        #expect(try String(contentsOfFile: "\(root)/usr/share/bash-completion/completions/escalator", encoding: .utf8).contains("escalator"))

        // An operator edits a rule file; installing again keeps the edit and puts the shipped file beside it.
        let edited = "\(root)/etc/escalator/rules.d/40-policies.yaml"
        let mine = try String(contentsOfFile: edited, encoding: .utf8) + "\n# edited by ops\n"
        try mine.write(toFile: edited, atomically: true, encoding: .utf8)
        let second = try Subprocess.run(install)
        #expect(second.succeeded)
        #expect(try String(contentsOfFile: edited, encoding: .utf8) == mine)
        #expect(FileManager.default.fileExists(atPath: "\(edited).dist"))
        #expect(second.output.contains("kept your /etc/escalator/rules.d/40-policies.yaml"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/escalator/escalator.yaml.dist"))

        // Uninstall removes the program and keeps configuration, state and spool unless asked.
        try FileManager.default.createDirectory(atPath: "\(root)/var/lib/escalator", withIntermediateDirectories: true)
        let removed = try Subprocess.run(["/bin/bash", "\(repositoryRoot)/deploy/uninstall.sh", "--root", root])
        #expect(removed.succeeded, "\(removed.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/usr/bin/escalator"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/systemd/system/escalator.service"))
        #expect(FileManager.default.fileExists(atPath: edited))
        #expect(FileManager.default.fileExists(atPath: "\(root)/var/lib/escalator"))
        #expect(try Subprocess.run(["/bin/bash", "\(repositoryRoot)/deploy/uninstall.sh", "--root", root, "--purge"]).succeeded)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/var/lib/escalator"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/escalator"))
    }
}
