/// A field of a case that a matcher can test.
public enum CaseField: Hashable, Sendable, CustomStringConvertible {
    case kind, status, owner
    case attribute(String)

    public var description: String {
        switch self {
        case .kind: return "kind"
        case .status: return "status"
        case .owner: return "owner"
        case .attribute(let name): return "attributes.\(name)"
        }
    }
}

/// A test on one field's value.
public enum ValueTest: Hashable, Sendable, CustomStringConvertible {
    /// The value is one of these.
    case oneOf([String])
    /// The value is none of these (an absent value passes).
    case noneOf([String])
    /// The value is present (true) or absent (false).
    case present(Bool)

    public func passes(_ value: String?) -> Bool {
        switch self {
        case .oneOf(let values): return value.map(values.contains) ?? false
        case .noneOf(let values): return !(value.map(values.contains) ?? false)
        case .present(let wanted): return (value != nil) == wanted
        }
    }

    public var description: String {
        switch self {
        case .oneOf(let values): return values.count == 1 ? "= \(values[0])" : "in [\(values.joined(separator: ", "))]"
        case .noneOf(let values): return "not in [\(values.joined(separator: ", "))]"
        case .present(let wanted): return wanted ? "is set" : "is not set"
        }
    }
}

/// All clauses must pass; an empty matcher matches every case.
public struct CaseMatcher: Hashable, Sendable {
    public struct Clause: Hashable, Sendable {
        public let field: CaseField
        public let test: ValueTest

        public init(field: CaseField, test: ValueTest) {
            self.field = field
            self.test = test
        }
    }

    public let clauses: [Clause]

    public init(_ clauses: [Clause] = []) { self.clauses = clauses }

    public static let any = CaseMatcher()

    public func matches(_ view: CaseView) -> Bool { clauses.allSatisfy { $0.test.passes(view.value(of: $0.field)) } }

    /// Each clause with its outcome, for `explain`: "status not in [delivered] (status = in_production): yes".
    public func explain(_ view: CaseView) -> [(text: String, passed: Bool)] {
        clauses.map { clause in
            let value = view.value(of: clause.field) ?? "(none)"
            return ("\(clause.field) \(clause.test) (\(clause.field) = \(value))", clause.test.passes(view.value(of: clause.field)))
        }
    }
}

/// What stops a policy's clock for good: `until:` in a rule file.
public enum StopCondition: Hashable, Sendable, CustomStringConvertible {
    /// An activity of this kind, or carrying this tag, has happened.
    case activity(String)
    /// The case's fields match, e.g. `status in [delivered]`.
    case matches(CaseMatcher)
    /// The case is closed.
    case closed

    public func isMet(_ signals: CaseSignals, _ view: CaseView) -> Bool {
        switch self {
        case .activity(let name): return signals.firstSeen[name] != nil
        case .matches(let matcher): return matcher.matches(view)
        case .closed: return signals.closedAt != nil
        }
    }

    public var description: String {
        switch self {
        case .activity(let name): return "activity.\(name)"
        case .matches(let matcher): return matcher.clauses.map { "\($0.field) \($0.test)" }.joined(separator: " and ")
        case .closed: return "closed"
        }
    }
}
