import TVPEngine
import TVPPrompting
/// The spec values that stage parameters carry, as JSON and back (what a stage's key depends on).
extension PromptSpec {
    /// `init` appears only when the file sets it, so files that do not keep their stage keys.
    public var json: JSONValue {
        var fields: [String: JSONValue] = ["kind": .string(kind.rawValue), "image_size": .integer(imageSize), "frame": .integer(frame)]
        if let initialization { fields["init"] = .string(initialization.rawValue) }
        return .object(fields)
    }

    public init(json: JSONValue) throws {
        guard let kind = json["kind"]?.stringValue.flatMap(PromptKind.init(rawValue:)), let size = json["image_size"]?.intValue,
              let frame = json["frame"]?.intValue else { throw PipelineError.stage("prompt", "not a prompt description: \(json)") }
        let initialization = try json["init"].map { value -> PromptInitialization in
            guard let start = value.stringValue.flatMap(PromptInitialization.init(rawValue:)) else {
                throw PipelineError.stage("prompt", "not a prompt initialization: \(value)")
            }
            return start
        }
        self.init(kind: kind, imageSize: size, frame: frame, initialization: initialization)
    }
}

extension LossSpec {
    /// The task term enters only when it is not the official one, so other files keep their keys.
    public var json: JSONValue {
        task == "answer" ? ["fca": .double(fca), "tse": .double(tse)] : ["fca": .double(fca), "tse": .double(tse), "task": .string(task)]
    }

    public init(json: JSONValue) throws {
        guard let fca = json["fca"]?.doubleValue, let tse = json["tse"]?.doubleValue else {
            throw PipelineError.stage("loss", "not a loss description: \(json)")
        }
        self.init(fca: fca, tse: tse, task: json["task"]?.stringValue ?? "answer")
    }
}

extension TrainSpec {
    /// Validation enters only when it is on, so the stages of files without it keep their keys.
    public var json: JSONValue {
        var json: [String: JSONValue] = ["epochs": .integer(epochs), "batch": .integer(batch), "optimizer": .string(optimizer), "lr": .double(lr),
                                         "schedule": .string(schedule), "seed": .integer(seed), "augment": .bool(augment)]
        if validation > 0 {
            json["validation"] = .integer(validation)
            json["validate_every"] = .integer(validateEvery)
        }
        return .object(json)
    }

    public init(json: JSONValue) throws {
        guard let epochs = json["epochs"]?.intValue, let batch = json["batch"]?.intValue, let optimizer = json["optimizer"]?.stringValue,
              let lr = json["lr"]?.doubleValue, let schedule = json["schedule"]?.stringValue, let seed = json["seed"]?.intValue,
              case .bool(let augment)? = json["augment"] else {
            throw PipelineError.stage("train", "not a training description: \(json)")
        }
        self.init(epochs: epochs, batch: batch, optimizer: optimizer, lr: lr, schedule: schedule, seed: seed, augment: augment,
                  validation: json["validation"]?.intValue ?? 0, validateEvery: json["validate_every"]?.intValue ?? 8)
    }
}

extension LossRecord {
    public var json: JSONValue {
        var object: [String: JSONValue] = ["step": .integer(step), "epoch": .integer(epoch), "lr": .double(lr),
                                           "total": .double(total), "task": .double(task)]
        if let fca { object["fca"] = .double(fca) }
        if let tse { object["tse"] = .double(tse) }
        return .object(object)
    }

    init?(json: JSONValue) {
        guard let step = json["step"]?.intValue, let epoch = json["epoch"]?.intValue, let lr = json["lr"]?.doubleValue,
              let total = json["total"]?.doubleValue, let task = json["task"]?.doubleValue else { return nil }
        self.init(step: step, epoch: epoch, lr: lr, total: total, task: task, fca: json["fca"]?.doubleValue, tse: json["tse"]?.doubleValue)
    }
}

extension ClaimOperand {
    var json: JSONValue {
        switch self {
        case .number(let x): return ["number": .double(x)]
        case .statistic(let p, let statistic, let offset):
            var object: [String: JSONValue] = ["protocol": .string(p.rawValue), "offset": .double(offset)]
            switch statistic {
            case .mean: object["statistic"] = "mean"
            case .median: object["statistic"] = "median"
            case .min: object["statistic"] = "min"
            case .max: object["statistic"] = "max"
            case .model(let name): object["model"] = .string(name)
            }
            return .object(object)
        }
    }

    init(json: JSONValue) throws {
        if let x = json["number"]?.doubleValue { self = .number(x); return }
        guard let p = json["protocol"]?.stringValue.flatMap(ProtocolSpec.init(rawValue:)), let offset = json["offset"]?.doubleValue else {
            throw PipelineError.stage("claim", "not a claim operand: \(json)")
        }
        let statistic: ClaimStatistic
        switch json["statistic"]?.stringValue {
        case "mean": statistic = .mean
        case "median": statistic = .median
        case "min": statistic = .min
        case "max": statistic = .max
        default:
            guard let model = json["model"]?.stringValue else { throw PipelineError.stage("claim", "not a claim operand: \(json)") }
            statistic = .model(model)
        }
        self = .statistic(p, statistic, offset: offset)
    }
}

extension Claim {
    /// What the aggregate stage needs to check the claim (the models of its scope resolved).
    func json(models: [String]) -> JSONValue {
        ["text": .string(text), "left": left.json, "comparison": .string(comparison.rawValue), "right": right.json,
         "models": .array(models.map { .string($0) }), "tasks": .array(tasks.map { .string($0) }), "metric": .string(metric),
         "corruption": corruption.map { .string($0) } ?? .null, "where": .string(mark.description), "confidence": .double(confidence)]
    }
}

extension ValidationPoint {
    var json: JSONValue {
        ["step": .integer(step), "accuracy": .double(accuracy), "loss": .double(loss), "n": .integer(n)]
    }

    init?(json: JSONValue) {
        guard let step = json["step"]?.intValue, let accuracy = json["accuracy"]?.doubleValue, let loss = json["loss"]?.doubleValue,
              let n = json["n"]?.intValue else { return nil }
        self.init(step: step, accuracy: accuracy, loss: loss, n: n)
    }
}
