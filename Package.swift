// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "escalator",
    products: [
        .executable(name: "escalator", targets: ["escalator"]),
        .executable(name: "JournalProbe", targets: ["JournalProbe"]),
        .executable(name: "escalator-bench", targets: ["EscalatorBench"]),
        .library(name: "EscalatorCore", targets: ["EscalatorCore"]),
        .library(name: "EscalatorConfig", targets: ["EscalatorConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The pure domain: cases, signals, calendars, policies, ladders and the engine. Foundation only.
        .target(name: "EscalatorCore"),
        // Rule files (YAML) to the Core model, with file:line:col diagnostics.
        .target(
            name: "EscalatorConfig",
            dependencies: [
                "EscalatorCore",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Case sources: the order database, read-only (SQLite embedded, PostgreSQL server).
        .target(
            name: "EscalatorSources",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libsystemd, for the journal's native protocol and sd_notify.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Swift over libsystemd: journal entries, the journal stream check, sd_notify.
        .target(name: "Systemd", dependencies: ["CSystemd"]),
        // Outputs: journal entries, the daemon's own logs, the Maildir email spool and its flusher.
        .target(
            name: "EscalatorOutputs",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "Systemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        // The engine loop shared by the daemon and the tools: cases, their escalation state, a deadline queue;
        // and the tools built on it (simulate, demo).
        .target(
            name: "EscalatorRuntime",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "EscalatorSources",
                "EscalatorOutputs",
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The daemon's durable state: occurrences, acknowledgements, deadlines and the outbox. SQLite (WAL) on one
        // host, or PostgreSQL shared by active/standby instances.
        .target(
            name: "EscalatorState",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "EscalatorSources",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `escalator run`: the scheduler, outbox and watchdog services, reload and shutdown.
        .target(
            name: "EscalatorDaemon",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "EscalatorSources",
                "EscalatorOutputs",
                "EscalatorRuntime",
                "EscalatorState",
                "Systemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Helpers shared by test targets: a throwaway PostgreSQL server, temporary directories.
        .target(
            name: "EscalatorTestKit",
            dependencies: ["EscalatorCore", "EscalatorOutputs"],
            path: "Tests/EscalatorTestKit"
        ),
        // The thin command-line executable.
        .executableTarget(
            name: "escalator",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "EscalatorSources",
                "EscalatorOutputs",
                "EscalatorRuntime",
                "EscalatorState",
                "EscalatorDaemon",
                "Systemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The benchmark harness (docs/benchmarks.md): `swift build -c release` then `.build/release/escalator-bench`.
        .executableTarget(
            name: "EscalatorBench",
            dependencies: [
                "EscalatorCore", "EscalatorConfig", "EscalatorSources", "EscalatorOutputs", "EscalatorRuntime", "EscalatorState",
                "EscalatorDaemon", "EscalatorTestKit", "Systemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/EscalatorBench"
        ),
        .testTarget(
            name: "EscalatorCoreTests",
            dependencies: ["EscalatorCore"]
        ),
        .testTarget(
            name: "EscalatorConfigTests",
            dependencies: ["EscalatorConfig", "EscalatorCore", "EscalatorSources"],
            exclude: ["Fixtures"]
        ),
        // Writes journal entries through the real library, for the journald test (which runs it in a namespace).
        .executableTarget(
            name: "JournalProbe",
            dependencies: ["EscalatorOutputs", "EscalatorCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/JournalProbe"
        ),
        .testTarget(
            name: "EscalatorOutputsTests",
            dependencies: ["EscalatorOutputs", "EscalatorConfig", "EscalatorCore", "EscalatorTestKit", "Systemd", "JournalProbe"]
        ),
        .testTarget(
            name: "EscalatorRuntimeTests",
            dependencies: ["EscalatorRuntime", "EscalatorConfig", "EscalatorCore", "EscalatorSources", "EscalatorTestKit"]
        ),
        .testTarget(
            name: "EscalatorDaemonTests",
            dependencies: [
                "EscalatorDaemon", "EscalatorState", "EscalatorRuntime", "EscalatorConfig", "EscalatorCore", "EscalatorSources",
                "EscalatorOutputs", "EscalatorTestKit", "Systemd", "escalator", "EscalatorBench", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "EscalatorSourcesTests",
            dependencies: ["EscalatorSources", "EscalatorConfig", "EscalatorCore", "EscalatorTestKit"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
