// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-megatron",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MegatronTensor", targets: ["MegatronTensor"]),
        .library(name: "MegatronCPU", targets: ["MegatronCPU"]),
        .library(name: "MegatronCUDA", targets: ["MegatronCUDA"]),
        .library(name: "MegatronTransformer", targets: ["MegatronTransformer"]),
        .library(name: "MegatronOptimizer", targets: ["MegatronOptimizer"]),
        .library(name: "MegatronData", targets: ["MegatronData"]),
        .library(name: "MegatronCheckpoint", targets: ["MegatronCheckpoint"]),
        .library(name: "MegatronModels", targets: ["MegatronModels"]),
        .library(name: "MegatronParallel", targets: ["MegatronParallel"]),
        .library(name: "MegatronPipeline", targets: ["MegatronPipeline"]),
        .library(name: "MegatronTraining", targets: ["MegatronTraining"]),
        .executable(name: "megatron", targets: ["megatron"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(name: "MegatronTensor"),
        .target(name: "MegatronCPU", dependencies: ["MegatronTensor"]),
        .target(name: "CCUDA"),
        .target(name: "MegatronCUDA", dependencies: ["MegatronTensor", "MegatronParallel", "CCUDA"]),
        .target(name: "MegatronTransformer", dependencies: ["MegatronTensor", "MegatronParallel"]),
        .target(name: "MegatronOptimizer", dependencies: ["MegatronTensor"]),
        .target(name: "MegatronData", dependencies: ["MegatronTensor"]),
        .target(name: "MegatronCheckpoint", dependencies: ["MegatronTensor", "MegatronParallel"]),
        .target(name: "MegatronParallel", dependencies: ["MegatronTensor"]),
        .target(name: "MegatronPipeline", dependencies: ["MegatronTensor", "MegatronParallel"]),
        .target(name: "MegatronModels", dependencies: [
            "MegatronTensor", "MegatronTransformer", "MegatronCheckpoint", "MegatronParallel",
        ]),
        .target(name: "MegatronTraining", dependencies: [
            "MegatronTensor", "MegatronCPU", "MegatronTransformer", "MegatronOptimizer",
            "MegatronData", "MegatronModels", "MegatronParallel", "MegatronPipeline", "MegatronCheckpoint",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "megatron", dependencies: [
            "MegatronTraining",
            "MegatronCUDA",
            "MegatronParallel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "MegatronTensorTests", dependencies: ["MegatronTensor"]),
        .testTarget(name: "MegatronCheckpointTests", dependencies: [
            "MegatronCheckpoint", "MegatronTensor", "MegatronParallel",
        ]),
        .testTarget(name: "MegatronParallelTests", dependencies: ["MegatronParallel", "MegatronTensor", "MegatronCPU"]),
        .testTarget(name: "MegatronCPUTests", dependencies: ["MegatronTensor", "MegatronCPU"]),
        .testTarget(name: "MegatronCUDATests", dependencies: ["MegatronCUDA", "MegatronTensor"]),
        .testTarget(name: "MegatronTransformerTests", dependencies: [
            "MegatronTensor", "MegatronCPU", "MegatronTransformer", "MegatronParallel",
        ]),
        .testTarget(name: "MegatronOptimizerTests", dependencies: [
            "MegatronTensor", "MegatronCPU", "MegatronOptimizer",
        ]),
        .testTarget(name: "MegatronModelsTests", dependencies: [
            "MegatronTensor", "MegatronCPU", "MegatronTransformer", "MegatronModels",
            "MegatronCheckpoint", "MegatronOptimizer",
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "MegatronDataTests", dependencies: ["MegatronData", "MegatronTensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MegatronPipelineTests", dependencies: ["MegatronPipeline"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MegatronTrainingTests", dependencies: [
            "MegatronTraining", "MegatronTensor", "MegatronCPU", "MegatronTransformer", "MegatronParallel", "MegatronModels", "MegatronCheckpoint",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
