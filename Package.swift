// swift-tools-version: 6.1
import PackageDescription

let release: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "RGP",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rgp", targets: ["RGPCommand"]),
        .library(name: "Numerics", targets: ["Numerics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
    ],
    targets: [
        // Native dependencies (Debian packages, installed by `make setup`).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CLAPACKE", path: "Sources/CLAPACKE"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .systemLibrary(name: "CFFTW", path: "Sources/CFFTW"),
        .target(
            name: "CSentencePiece",
            path: "Sources/CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]
        ),

        // Whole-file reads with zstd decompression, atomic writes.
        .target(name: "Storage", dependencies: ["CZstd"]),
        // Text to token ids: WordPiece and SentencePiece, pair encoding with truncation.
        .target(name: "Tokenizers", dependencies: ["CSentencePiece"], swiftSettings: release),
        // GLUE tasks: TSV loading by header name, label maps, metrics.
        .target(name: "GLUE", dependencies: ["Storage"], swiftSettings: release),

        // Accountants (RDP, PRV), σ calibration, secure Gaussian noise, samplers, per-example clipping.
        .target(
            name: "Privacy",
            dependencies: ["CFFTW", "CBLAS", "Numerics", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: release
        ),

        // Float32 tensors, GEMM, and the forward/backward kernels every model shares.
        .target(name: "Numerics", dependencies: ["CBLAS", "CLAPACKE"], swiftSettings: release),

        // BERT: config, parameters, checkpoint reading, encoder forward/backward, classification head.
        .target(name: "Transformer", dependencies: ["Numerics", "Storage"], swiftSettings: release),

        .executableTarget(
            name: "RGPCommand",
            dependencies: [
                "Numerics", "CBLAS", "Tokenizers", "GLUE", "Storage", "Privacy", "Transformer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: release
        ),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(
            name: "TokenizersTests",
            dependencies: ["Tokenizers", "GLUE", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "GLUETests", dependencies: ["GLUE", "Storage"]),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy", "Numerics"]),
        .testTarget(
            name: "TransformerTests",
            dependencies: ["Transformer", "Numerics", "Storage", "Tokenizers"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
