import EscalatorCore
import Foundation

/// The one-line texts of a notice: the journal's MESSAGE and the mail's Subject.
public enum NoticeText {
    /// "3h 30m", "2d 4h" (days of 24 working hours are not a thing: working time is shown in hours and minutes).
    public static func workingTime(_ seconds: Int) -> String {
        let minutes = abs(seconds) / 60
        if minutes < 60 { return "\(minutes)m" }
        return minutes % 60 == 0 ? "\(minutes / 60)h" : "\(minutes / 60)h \(minutes % 60)m"
    }

    /// The role of a notice's first addressee, for "escalated to supervisor rep5".
    static func whom(_ notice: Notice) -> String {
        guard let first = notice.to.first else { return "nobody (no recipient could be resolved)" }
        let others = notice.to.count > 1 ? " and \(notice.to.count - 1) more" : ""
        return "\(first.role) \(first.id)\(others)"
    }

    /// "TT-1001 promised-delivery breached 9h ago: escalated to supervisor rep5 (step 3/4)".
    public static func message(_ notice: Notice) -> String {
        let subject = notice.subject.map { " (\($0))" } ?? ""
        let head = "\(notice.caseID) \(notice.policy)\(subject)"
        let step = "(step \(notice.step)/\(notice.stepCount)\(notice.repeatNumber > 0 ? ", repeat \(notice.repeatNumber)" : ""))"
        switch notice.trigger {
        case .warn:
            return "\(head) will breach in \(workingTime(-notice.overdueSeconds)) of working time: warned \(whom(notice)) \(step)"
        case .breach:
            return "\(head) breached: notified \(whom(notice)) \(step)"
        case .escalate, .repeat:
            return "\(head) breached \(workingTime(notice.overdueSeconds)) ago: escalated to \(whom(notice)) \(step)"
        case .catchUp:
            let missed = notice.missed.count
            return "\(head) breached \(workingTime(notice.overdueSeconds)) ago, caught up past \(missed) missed step\(missed == 1 ? "" : "s"): escalated to \(whom(notice)) \(step)"
        case .clear:
            return "\(head) cleared: told \(notice.to.map(\.id).joined(separator: ", "))"
        }
    }

    /// "[escalator] TT-1001: promised-delivery breached (step 3/4)".
    public static func subject(_ notice: Notice) -> String {
        let what: String
        switch notice.trigger {
        case .warn: what = "will breach soon"
        case .breach: what = "breached"
        case .escalate, .catchUp: what = "breached \(workingTime(notice.overdueSeconds)) ago, escalated"
        case .repeat: what = "still breached after \(workingTime(notice.overdueSeconds))"
        case .clear: what = "cleared"
        }
        let subject = notice.subject.map { " (\($0))" } ?? ""
        let step = notice.trigger == .clear ? "" : " (step \(notice.step)/\(notice.stepCount))"
        return "[escalator] \(notice.caseID): \(notice.policy)\(subject) \(what)\(step)"
    }

    /// syslog priority: warn → notice (5), breach and lower steps → warning (4), the top step → err (3),
    /// clear → info (6).
    public static func priority(_ notice: Notice) -> Int {
        switch notice.trigger {
        case .warn: return 5
        case .clear: return 6
        default: return notice.step >= notice.stepCount ? 3 : 4
        }
    }
}
