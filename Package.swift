// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "RGP",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rgp", targets: ["rgp"]),
        .executable(name: "rgp-sst2", targets: ["rgp-sst2"]),
        .executable(name: "rgp-qnli", targets: ["rgp-qnli"]),
        .executable(name: "rgp-qqp", targets: ["rgp-qqp"]),
        .executable(name: "rgp-mnli", targets: ["rgp-mnli"]),
        // The suite as libraries, for researchers who build on it (no unsafe flags anywhere, so it can be a dependency).
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "Privacy", targets: ["Privacy"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "GLUE", targets: ["GLUE"]),
        .library(name: "RGP", targets: ["RGP"]),
        .library(name: "Training", targets: ["Training"]),
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
        // Open MPI (Debian: openmpi-bin, libopenmpi-dev); only multi-process runs call it.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "CSentencePiece",
            path: "Sources/CSentencePiece",
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]
        ),

        // Whole-file reads with zstd decompression, atomic writes.
        .target(name: "Storage", dependencies: ["CZstd"]),
        // Text to token ids: WordPiece and SentencePiece, pair encoding with truncation.
        .target(name: "Tokenizers", dependencies: ["CSentencePiece", "Storage"]),
        // GLUE tasks: TSV loading by header name, label maps, metrics.
        .target(name: "GLUE", dependencies: ["Storage"]),

        // The processes of a run and their collectives (reduce, broadcast); a single process without MPI.
        .target(name: "Distributed", dependencies: ["CKernels"]),
        // The MPI implementation of Distributed's communicator (started only under mpirun/srun).
        .target(name: "MPIBackend", dependencies: ["CMPI", "Distributed"]),

        // Accountants (RDP, PRV), σ calibration, secure Gaussian noise, samplers, per-example clipping.
        .target(
            name: "Privacy",
            dependencies: ["CFFTW", "CKernels", "Numerics", "Distributed", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // Elementwise loops compiled per instruction set and chosen at load time (the Swift code targets baseline x86-64).
        .target(name: "CKernels", path: "Sources/CKernels", linkerSettings: [.linkedLibrary("mvec", .when(platforms: [.linux]))]),
        // Float32 tensors, GEMM, and the forward/backward kernels every model shares.
        .target(name: "Numerics", dependencies: ["CBLAS", "CKernels"]),

        // BERT: config, parameters, checkpoint reading, encoder forward/backward, classification head.
        .target(
            name: "Transformer",
            dependencies: ["Numerics", "Storage", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // RGP: gradient carriers by power iteration, per-example carrier gradients, reconstruction.
        .target(name: "RGP", dependencies: ["Numerics", "Transformer", "CLAPACKE"]),

        // Methods (full, low-rank, DP-SGD, RGP, DP head), trainer loop, checkpoint/resume, run records.
        .target(
            name: "Training",
            dependencies: ["Numerics", "Transformer", "Tokenizers", "GLUE", "Privacy", "RGP", "Storage", "Distributed",
                           .product(name: "Crypto", package: "swift-crypto")]
        ),

        // Experiment profiles, the grid runner (shards, skip/resume), cost plans, tables (Markdown, CSV, LaTeX), SVG plots.
        .target(name: "Reproduction", dependencies: ["GLUE", "Privacy", "Storage", "Tokenizers", "Training", "Transformer", "Distributed"]),

        // The command-line interface (swift-argument-parser); the executables below are thin entry points.
        .target(
            name: "Commands",
            dependencies: [
                "Numerics", "Tokenizers", "GLUE", "Privacy", "Transformer", "RGP", "Training", "Reproduction",
                "Distributed", "MPIBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "rgp", dependencies: ["Commands"], path: "Sources/rgp"),
        .executableTarget(name: "rgp-sst2", dependencies: ["Commands"], path: "Sources/rgp-sst2"),
        .executableTarget(name: "rgp-qnli", dependencies: ["Commands"], path: "Sources/rgp-qnli"),
        .executableTarget(name: "rgp-qqp", dependencies: ["Commands"], path: "Sources/rgp-qqp"),
        .executableTarget(name: "rgp-mnli", dependencies: ["Commands"], path: "Sources/rgp-mnli"),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics", "CKernels"]),
        .testTarget(
            name: "TokenizersTests",
            dependencies: ["Tokenizers", "GLUE", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "GLUETests", dependencies: ["GLUE", "Storage"]),
        .testTarget(name: "ReproductionTests", dependencies: ["Reproduction", "Training", "GLUE", "Privacy"]),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy", "Numerics", "CFFTW", "CKernels"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Transformer", "Numerics", "Privacy", "Tokenizers", "GLUE", "Distributed", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "RGPTests", dependencies: ["RGP", "Training", "Transformer", "Numerics", "Privacy", "Tokenizers", "GLUE"]),
        .testTarget(
            name: "TransformerTests",
            dependencies: ["Transformer", "Numerics", "Storage", "Tokenizers"],
            resources: [.copy("Fixtures")]
        ),
    ],
    cxxLanguageStandard: .cxx17
)
