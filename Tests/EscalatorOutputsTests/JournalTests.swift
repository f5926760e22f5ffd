import EscalatorOutputs
import EscalatorTestKit
import Foundation
import Testing

/// Against a real journald: started in a private mount namespace (tmpfs over /run/systemd, /run/log and the
/// catalog folders), so nothing reaches the host's journal. The entries are written by JournalProbe through
/// escalator's own journal code, then read back with journalctl.
@Suite struct JournalTests {
    static let script = """
        set -e
        CATALOG="$1"; PROBE="$2"; CASEID="$3"; OUT="$4"
        mount -t tmpfs tmpfs /run/systemd
        mount -t tmpfs tmpfs /run/log
        if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
        mkdir -p /var/lib/systemd/catalog /usr/lib/systemd/catalog
        mount -t tmpfs tmpfs /var/lib/systemd/catalog
        mount -t tmpfs tmpfs /usr/lib/systemd/catalog
        cp "$CATALOG" /usr/lib/systemd/catalog/escalator.catalog
        /lib/systemd/systemd-journald &
        JPID=$!
        for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        "$PROBE" "$CASEID"
        journalctl --sync 2>/dev/null || sleep 0.5
        journalctl --update-catalog
        journalctl ESCALATOR_CASE="$CASEID" -o json --no-pager > "$OUT/entries.json"
        journalctl ESCALATOR_CASE="$CASEID" -x --no-pager > "$OUT/explained.txt"
        kill $JPID
        """

    @Test func noticesAndLogsReachARealJournaldWithTheirFieldsAndCatalog() throws {
        let directory = try TemporaryDirectory("escalator-journal")
        defer { directory.remove() }
        try Self.script.write(toFile: "\(directory.path)/run.sh", atomically: true, encoding: .utf8)
        let probe = "\(repositoryRoot)/.build/debug/JournalProbe"
        let caseID = "JT-\(UUID().uuidString.prefix(6))"
        let run = try Subprocess.run(["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "\(directory.path)/run.sh",
                                      "\(repositoryRoot)/deploy/escalator.catalog", probe, caseID, directory.path])
        #expect(run.succeeded, "\(run.output)")
        let lines = try String(contentsOfFile: "\(directory.path)/entries.json", encoding: .utf8).split(separator: "\n")
        let entries = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(entries.count == 3)
        guard entries.count == 3 else { return }

        let first = entries[0]
        #expect(first["MESSAGE"] as? String == "\(caseID) promised-delivery breached 9h ago: escalated to supervisor rep5 (step 3/4)")
        #expect(first["MESSAGE_ID"] as? String == EventID.escalate.messageID)
        #expect(first["PRIORITY"] as? String == "4")
        #expect(first["SYSLOG_IDENTIFIER"] as? String == "escalator")
        for (name, value) in [
            ("ESCALATOR_CASE", caseID), ("ESCALATOR_POLICY", "promised-delivery"), ("ESCALATOR_STEP", "3"),
            ("ESCALATOR_TRIGGER", "escalate"), ("ESCALATOR_TO", "rep5"), ("ESCALATOR_CC", "rep3"),
            ("ESCALATOR_DUE", "2026-03-05T02:00:00Z"), ("ESCALATOR_OVERDUE_SECONDS", "32400"),
            ("ESCALATOR_NOTICE_ID", "\(caseID)/promised-delivery/promised_at-1772676000.1/step3"),
            ("ESCALATOR_EMAIL_MESSAGE_ID", "<abc@trophy.example>"),
        ] {
            #expect(first[name] as? String == value, "\(name)")
        }

        // Newlines in a value stay inside that value: no field is injected, the priority is the top step's.
        let hostile = entries[1]
        #expect(hostile["ESCALATOR_CASE"] as? String == caseID)
        #expect(hostile["PRIORITY"] as? String == "3")
        #expect(hostile["ESCALATOR_SUBJECT"] as? String == "P1\nESCALATOR_CASE=INJECTED\nPRIORITY=0")
        #expect((hostile["MESSAGE"] as? String)?.contains("\n") == false)

        // The daemon's own logs: metadata become fields, MESSAGE_ID from metadata.
        let log = entries[2]
        #expect(log["MESSAGE"] as? String == "source down: connection refused")
        #expect(log["MESSAGE_ID"] as? String == EventID.sourceDown.messageID)
        #expect(log["ESCALATOR_SOURCE"] as? String == "postgres")
        #expect(log["PRIORITY"] as? String == "4")

        let explained = try String(contentsOfFile: "\(directory.path)/explained.txt", encoding: .utf8)
        #expect(explained.contains("Subject: Case \(caseID) escalated to step 3 of promised-delivery"))
        #expect(explained.contains("escalator explain \(caseID)"))
        #expect(explained.contains("Subject: escalator cannot read the order database"))
    }

    @Test func theCatalogExplainsEveryEvent() throws {
        let catalog = try String(contentsOfFile: "\(repositoryRoot)/deploy/escalator.catalog", encoding: .utf8)
        let ids = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(ids.sorted() == EventID.allCases.map(\.messageID).sorted())
        for id in ids {
            let entry = catalog.components(separatedBy: "-- \(id)\n")[1].components(separatedBy: "\n-- ")[0]
            #expect(entry.contains("Subject: ") && entry.contains("Defined-By: escalator") && entry.contains("Documentation: "), "\(id)")
        }
    }
}
