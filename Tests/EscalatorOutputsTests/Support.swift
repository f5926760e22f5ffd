import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import Foundation

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A notice with the given values, as the engine would make it.
func sampleNotice(
    caseID: String = "TT-1001", trigger: Notice.Trigger = .escalate, step: Int = 3, toName: String = "Supervisor",
    toEmail: String = "sup@trophy.example", ccName: String = "Company Rep 3", subject: String? = nil
) -> Notice {
    let due = Date(timeIntervalSince1970: 1_772_676_000)
    return Notice(
        id: "\(caseID)/promised-delivery/promised_at-1772676000.1/step\(step)", caseID: caseID, policy: "promised-delivery",
        measure: "deadline", occurrence: "promised_at-1772676000.1", subject: subject, subjectText: subject.map { "promise \($0)" },
        step: step, stepCount: 4, repeatNumber: 0, trigger: trigger, dueAt: due, decidedAt: due.addingTimeInterval(600),
        to: [.init(id: "rep5", name: toName, email: toEmail, role: "supervisor")],
        cc: [.init(id: "rep3", name: ccName, email: "rep3@trophy.example", role: "responsible")],
        clockStart: due.addingTimeInterval(-86_400), warnAt: nil, breachAt: due, overdueSeconds: 32_400, missed: [],
        unresolved: [], template: nil)
}

let sampleRules = Rules(calendars: [:], directory: Directory([]), raci: Raci(), policies: [])

/// Parses messages with Python's `email` package (the reference parser) and returns, per file, its headers
/// (decoded) and body, plus any defects Python found.
func parseWithPython(_ files: [String]) throws -> [[String: Any]] {
    let script = """
        import email, email.policy, json, sys
        out = []
        for path in sys.argv[1:]:
            with open(path, 'rb') as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            headers = {}
            for name, value in msg.items():
                headers.setdefault(name, []).append(str(value))
            out.append({'headers': headers, 'body': msg.get_content(), 'defects': [str(d) for d in msg.defects],
                        'to': [a.addr_spec for a in msg['to'].addresses] if msg['to'] else [],
                        'to_names': [a.display_name for a in msg['to'].addresses] if msg['to'] else [],
                        'cc': [a.addr_spec for a in msg['cc'].addresses] if msg['cc'] else []})
        print(json.dumps(out))
        """
    let scriptPath = NSTemporaryDirectory() + "parse-\(UUID().uuidString.prefix(6)).py"
    try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    defer { unlink(scriptPath) }
    let result = try Subprocess.run(["/usr/bin/python3", scriptPath] + files)
    guard result.succeeded, let data = result.output.data(using: .utf8) else { throw CocoaError(.fileReadCorruptFile, userInfo: ["output": result.output]) }
    return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
}
