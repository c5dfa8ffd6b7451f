// swift-tools-version:6.0
// tvp: Transferable Visual Prompts for multimodal LLMs, as declarative cached pipelines.
// No package dependencies: only the toolchain and system libraries found through pkg-config.
import PackageDescription

// -Ounchecked drops Swift's overflow and bounds checks. Only the tensor kernels (TVPTensor) keep it:
// their loops index buffers whose sizes the layers above have checked. Every module that reads
// downloaded files (formats, data, weights, prompts, pipelines) builds with plain -O, where an
// overflow missed by a reader traps instead of corrupting memory; the cost, measured with
// `tvp-run bench` and whole-file loads of the real SmolLM2, MiniLM and EfficientNet weights, is
// within the noise of this machine.
let kernels: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "tvp",
    products: [
        .executable(name: "tvp-run", targets: ["tvp-run"]),
        .library(name: "TVPTensor", targets: ["TVPTensor"]),
    ],
    targets: [
        // System libraries (module map + pkg-config).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg reports errors by longjmp, which Swift cannot catch: this C shim turns them into return codes.
        .target(name: "CJPEGShim", dependencies: ["CJPEG"]),

        // Layers; arrows point down only: Commands → Pipeline → Zoo → Prompting → (Data, Models) → (Tensor, Formats),
        // and Pipeline → Engine → Formats.
        .target(name: "TVPTensor", dependencies: ["CBLAS"], swiftSettings: kernels),
        // File formats every layer reads (YAML, pickle, zip, mmap, half floats, SHA-256); no tensors.
        .target(name: "TVPFormats", dependencies: ["CZlib", "CYAML"]),
        .target(name: "TVPData", dependencies: ["TVPTensor", "TVPFormats", "CPNG", "CJPEGShim", "CZlib"]),
        .target(name: "TVPModels", dependencies: ["TVPTensor", "TVPFormats", "CZlib"]),
        // The paper's method: prompts, FCA and TSE losses, the trainer, the update, evaluation, statistics.
        .target(name: "TVPPrompting", dependencies: ["TVPTensor", "TVPFormats", "TVPData", "TVPModels"]),
        // The embedded zoo: its model architectures, corpus, connector/ViT/guide training and build.
        .target(name: "TVPZoo", dependencies: ["TVPTensor", "TVPFormats", "TVPData", "TVPModels", "TVPPrompting"]),
        // A generic engine of cached stages: graph, keys, sealed cache, locks, leases, planner, executor.
        .target(name: "TVPEngine", dependencies: ["TVPFormats"]),
        // Pipeline files compiled into engine stages, their stage bodies, reports and the Slurm machinery.
        .target(name: "TVPPipeline", dependencies: ["TVPTensor", "TVPFormats", "TVPData", "TVPModels", "TVPPrompting", "TVPZoo", "TVPEngine"],
                plugins: ["SourceDigestPlugin"]),
        // The command line: argument parsing, usage texts, the subcommands' front ends, the benchmarks.
        .target(name: "TVPCommands", dependencies: ["TVPTensor", "TVPFormats", "TVPData", "TVPModels", "TVPPrompting", "TVPZoo", "TVPEngine",
                                                    "TVPPipeline"]),
        .executableTarget(name: "tvp-run", dependencies: ["TVPCommands", "TVPPipeline", "TVPTensor"]),
        // Stage keys name the code they run: this plugin hashes the sources of the module it is applied
        // to and of the modules below it at build time into TVPPipeline's `SourceDigests` (see
        // Run/StageCode.swift); the command line above is not among them.
        .executableTarget(name: "source-digest", dependencies: ["TVPFormats"]),
        .plugin(name: "SourceDigestPlugin", capability: .buildTool(), dependencies: ["source-digest"], path: "Sources/SourceDigestPlugin"),

        // For the tests: mutation fuzzing, hostile-file builders, the address-space-capped child, real-asset lookup.
        .target(name: "TVPTestSupport", path: "Tests/TVPTestSupport"),
        .testTarget(name: "TVPTensorTests", dependencies: ["TVPTensor"]),
        .testTarget(name: "TVPFormatsTests", dependencies: ["TVPFormats", "TVPTestSupport"]),
        .testTarget(name: "TVPDataTests", dependencies: ["TVPData", "TVPTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TVPModelsTests", dependencies: ["TVPModels", "TVPTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TVPPromptingTests", dependencies: ["TVPPrompting"], exclude: ["Fixtures"]),
        .testTarget(name: "TVPZooTests", dependencies: ["TVPZoo"]),
        .testTarget(name: "TVPPipelineTests", dependencies: ["TVPPipeline", "TVPCommands"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
