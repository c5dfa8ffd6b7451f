import Foundation
import TVPModels
import TVPTensor

/// The embedded zoo: small MLLMs assembled from real pretrained parts that share one frozen
/// SmolLM2-135M-Instruct, each with its own vision tower tap and a connector trained by the zoo build (Pipelines/zoo.yaml)
/// through the frozen LM (the way LLaVA's first stage trains only its projector), plus the
/// CLIP-style TSE guide (`ZooGuide`).
///
/// Every zoo model takes 128 px images; the TVP padding prompt for them is a 16 px frame around a
/// 96 px image (the official 30 px frame around 164 px, scaled to 128).
public enum Zoo {
    /// The side of every zoo model's (and the guide's) input images.
    public static let imageSize = 128
    /// The padding prompt's frame width for the zoo (TVP: 30 of 224; here 16 of 128).
    public static let frame = 16
    /// The side of the image inside the frame.
    public static var innerSize: Int { imageSize - 2 * frame }

    /// The official TVP classification prompt (`transfer_cls.py`: `prompt = "This is a photo of a"`),
    /// the class name being the answer.
    public static let classificationPrompt = "This is a photo of a"
    /// The TSE caption of a class (`transfer_cls.py`: `f"this is a photo of a {target}"`).
    public static func caption(_ className: String) -> String { "this is a photo of a \(className)" }

    /// Fashion-MNIST's classes as the zoo's answers and candidates (lower case).
    public static let fashionClassNames = ["t-shirt/top", "trouser", "pullover", "dress", "coat",
                                           "sandal", "shirt", "sneaker", "bag", "ankle boot"]
    /// MNIST's classes as the zoo's answers and candidates.
    public static let digitClassNames = (0...9).map(String.init)


    /// The names of the zoo's MLLMs, in table order.
    public static let modelNames = ZooModelSpec.all.map(\.name)

    /// The assets `load` reads (names of datasets.manifest).
    public static let languageAsset = ZooAsset(asset: "smollm2-135m-instruct", file: "SmolLM2-135M-Instruct.Q4_1.gguf")
    public static let efficientNetAsset = ZooAsset(asset: "efficientnet-lite0", file: "efficientnet-lite0-57934424.pth")
    public static let textTowerAsset = ZooAsset(asset: "all-minilm-l6-v2", file: "model.safetensors")
}

/// One file of a manifest asset.
public struct ZooAsset: Sendable, Equatable {
    public let asset: String
    public let file: String

    public init(asset: String, file: String) { (self.asset, self.file) = (asset, file) }

    /// `<assets>/<asset>/<file>`, or a `ZooError` naming the `tvp-run fetch` command when it is absent.
    public func path(in assets: String) throws -> String {
        let path = (assets as NSString).appendingPathComponent("\(asset)/\(file)")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ZooError("missing asset '\(asset)' (\(path)): run `tvp-run fetch \(asset)`")
        }
        return path
    }
}

/// An error of the zoo: a missing asset or weight file, or a file that does not fit.
public struct ZooError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Which vision tower and which tap feed a zoo model's connector.
public enum ZooTower: Sendable, Equatable {
    /// EfficientNet-Lite0 (ImageNet-1k, frozen) at one tap.
    case efficientNet(EfficientNetLite.Tap)
    /// The zoo's small ViT (trained by the zoo build): its class token and every patch token after its last block.
    case vit
}

/// The connector kind of a zoo model.
public enum ZooConnectorKind: Sendable, Equatable {
    /// LLaVA-1.5's two-layer MLP (exact GELU).
    case mlp
    /// Groups of `groupSize` tokens averaged, then one linear map (MiniGPT-4-like short prefix).
    case pooledLinear(groupSize: Int)
    /// LLaVA's MLP read by the question too: the gate on its hidden layer (`ZooGatedMLPConnector`).
    case gatedMLP
    /// The pooled linear map read by the question too: the gate on its output tokens (`ZooGatedPooledConnector`).
    case gatedPooledLinear(groupSize: Int)
    /// A small random-init Q-Former with learned queries, then a linear map (BLIP-2-like; reading
    /// the prompt too when its shape is instructed or gated: InstructBLIP-like).
    case qformer(ZooQFormerConnector.Shape)

    /// Whether the question gates the connector (`ZooQuestionGate`), so the build runs the matching stage first.
    public var isGated: Bool {
        switch self {
        case .mlp, .pooledLinear: return false
        case .gatedMLP, .gatedPooledLinear: return true
        case .qformer(let shape): return shape.gated
        }
    }
}

/// LoRA adapters a zoo model trains on the shared language model's attention (LLaVA's second
/// stage tunes the LM too): without them the frozen SmolLM2 cannot answer object-presence
/// questions even from a true caption (`tvp-run zoo evaluate --descriptions`).
public struct ZooLoRA: Sendable, Equatable {
    public let rank: Int
    public let alpha: Float
    public init(rank: Int, alpha: Float) { (self.rank, self.alpha) = (rank, alpha) }
    /// Rank 8, alpha 16 on q_proj and v_proj (PEFT's usual LLaMA setting).
    public static let standard = ZooLoRA(rank: 8, alpha: 16)
}

/// One zoo MLLM: a tower tap, a connector and, optionally, its own LoRA on the shared LM.
public struct ZooModelSpec: Sendable, Equatable {
    public let name: String
    public let tower: ZooTower
    public let connector: ZooConnectorKind
    /// Seeds the connector's random initialization (and, plus 1000, the adapters').
    public let seed: UInt64
    /// The model's own adapters on the shared language model; nil keeps the LM frozen.
    public let lora: ZooLoRA?

    public init(name: String, tower: ZooTower, connector: ZooConnectorKind, seed: UInt64, lora: ZooLoRA? = nil) {
        (self.name, self.tower, self.connector, self.seed, self.lora) = (name, tower, connector, seed, lora)
    }

    /// (a) LLaVA-like: the EfficientNet head (4×4 at 128 px → 16 tokens × 1280) → MLP → 576, its
    /// hidden layer gated by the question.
    public static let effnetMLP = ZooModelSpec(name: "zoo-effnet-mlp", tower: .efficientNet(.head), connector: .gatedMLP, seed: 11)
    /// (b) MiniGPT-4-like: the EfficientNet head (16 tokens × 1280), each row of 4 tokens averaged →
    /// 4 tokens → linear → 576, gated by the question. (Over stage 4's pooled features the gate did
    /// not learn object presence: matching loss 0.66 at best against 0.56 here.)
    public static let effnetPool = ZooModelSpec(name: "zoo-effnet-pool", tower: .efficientNet(.head),
                                                connector: .gatedPooledLinear(groupSize: 4), seed: 12)
    /// (c) InstructBLIP-like: stage 6 (4×4 → 16 tokens × 320) → Q-Former (256 wide, 2 layers, 8 queries)
    /// gated by the question → linear → 576.
    public static let effnetQFormer = ZooModelSpec(name: "zoo-effnet-qformer", tower: .efficientNet(.stage(6)),
                                                   connector: .qformer(.init(hidden: 256, layers: 2, heads: 4, queries: 8, gated: true)), seed: 13)
    /// (d) The zoo ViT (128 px, patch 16 → class token + 8×8 patch tokens merged 2×2 → 17 × 192) → MLP → 576, its hidden
    /// layer gated by the question (the tower pretrained to tag object presence, `ZooViT.objective`).
    ///
    /// The gated models read the question through `ZooQuestionGate` and are trained in BLIP-2's
    /// two stages: image–text matching on object presence (`ZooPresenceMatching`), then the LM
    /// loss. Question-blind, the zoo's connectors answer POPE at chance.
    public static let vitMLP = ZooModelSpec(name: "zoo-vit-mlp", tower: .vit, connector: .gatedMLP, seed: 14)

    public static let all = [effnetMLP, effnetPool, effnetQFormer, vitMLP]

    /// The spec of `name`, or a `ZooError` listing the names.
    public static func named(_ name: String) throws -> ZooModelSpec {
        guard let spec = all.first(where: { $0.name == name }) else {
            throw ZooError("unknown zoo model '\(name)'; the zoo has \(all.map(\.name).joined(separator: ", "))")
        }
        return spec
    }
}
