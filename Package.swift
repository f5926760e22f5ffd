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
        // The thin command-line executable.
        .executableTarget(
            name: "escalator",
            dependencies: [
                "EscalatorCore",
                "EscalatorConfig",
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
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
