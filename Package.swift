// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Docket",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "docketd", targets: ["docketd"]),
        .executable(name: "docket", targets: ["docket"]),
        .library(name: "DocketClient", targets: ["DocketClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // Message types, the JSON codec and line framing. Pure: no I/O, no Foundation.
        .target(name: "DocketProtocol"),
        // The writer's VFS: the default one, with each commit's WAL frames written in one go.
        .target(name: "CWALBuffer", dependencies: ["CSQLite"]),
        // The store interface and its backends (SQLite, PostgreSQL): schemas, migrations and
        // every SQL statement.
        .target(
            name: "DocketStore",
            dependencies: [
                "CSQLite", "CWALBuffer", "DocketProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The socket server, dispatch, group commit, claim waiters, deadlines, shutdown.
        .target(
            name: "DocketServer",
            dependencies: [
                "DocketProtocol", "DocketStore", "CSystemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "DocketClient",
            dependencies: [
                "DocketProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "docketd",
            dependencies: [
                "DocketServer", "DocketStore", "DocketClient", "DocketProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "docket",
            dependencies: [
                "DocketClient", "DocketProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "MCP", package: "swift-sdk"),
            ]
        ),
        // libFuzzer over framing, decoding and encoding: Sources/DocketFuzz/run.sh builds it with
        // -sanitize=fuzzer; a plain build only replays the files it is given.
        .systemLibrary(name: "CFuzzerDriver"),
        .executableTarget(
            name: "DocketFuzz", dependencies: ["DocketProtocol", "CFuzzerDriver"],
            exclude: ["README.md", "run.sh", "make-corpus.py", "docket.dict"]
        ),
        // Shared by the test targets: launching processes safely from parallel tests.
        .target(name: "DocketTestSupport", dependencies: ["DocketClient"], path: "Tests/DocketTestSupport"),
        .testTarget(name: "DocketProtocolTests", dependencies: ["DocketProtocol"]),
        .testTarget(
            name: "DocketStoreTests",
            dependencies: [
                "DocketStore", "DocketProtocol", "DocketTestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "DocketServerTests",
            dependencies: [
                "DocketServer", "DocketStore", "DocketProtocol", "DocketTestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
        // Start the built docketd and talk to it over its real socket.
        .testTarget(name: "DocketEndToEndTests", dependencies: ["DocketClient", "DocketProtocol", "DocketTestSupport"]),
        // socket activation, sd_notify, the watchdog, access control and contrib/, against the
        // built docketd started by systemd-socket-activate.
        .testTarget(name: "DocketSystemdTests", dependencies: ["DocketClient", "DocketProtocol", "DocketTestSupport"]),
        // The Swift client and the docket command line against the built docketd and docket.
        .testTarget(name: "DocketCLITests", dependencies: ["DocketClient", "DocketProtocol", "DocketTestSupport"]),
    ]
)
