// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "escalator",
    products: [
        .executable(name: "escalator", targets: ["escalator"]),
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
        // Helpers shared by test targets: a throwaway PostgreSQL server, temporary directories.
        .target(
            name: "EscalatorTestKit",
            dependencies: ["EscalatorCore"],
            path: "Tests/EscalatorTestKit"
        ),
        // The thin command-line executable.
        .executableTarget(
            name: "escalator",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
                "EscalatorSources",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "EscalatorCoreTests",
            dependencies: ["EscalatorCore"]
        ),
        .testTarget(
            name: "EscalatorConfigTests",
            dependencies: ["EscalatorConfig", "EscalatorCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "EscalatorSourcesTests",
            dependencies: ["EscalatorSources", "EscalatorConfig", "EscalatorCore", "EscalatorTestKit"]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
