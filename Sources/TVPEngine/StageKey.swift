import TVPFormats

/// A stage's cache key: the SHA-256 (64 lowercase hex digits) of its manifest's canonical JSON.
public struct StageKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hex: String

    /// A key from its hex text; nil unless it is 64 lowercase hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.hex = hex
    }

    /// A key from hex text already known to be valid (a SHA-256 this process computed).
    public init(validHex: String) { hex = validHex }

    /// The first 12 hex digits, for listings.
    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }
    public static func < (lhs: StageKey, rhs: StageKey) -> Bool { lhs.hex < rhs.hex }
}

/// What a stage's result depends on, and nothing else (not its human id, not timestamps):
/// `{"assets":{name:sha256},"code":digest,"inputs":[input keys in order],"kind":kind,"parameters":…}`.
/// Its canonical JSON is stored as `manifest.json` beside the payload, and hashes to the key.
public struct StageManifest: Equatable, Sendable {
    public var kind: String
    public var parameters: JSONValue
    /// The keys of the stage's inputs, in the order the stage declares them.
    public var inputKeys: [StageKey]
    /// Checksums (SHA-256 hex) of the external files the stage reads, by asset name.
    public var assets: [String: String]
    /// The identity of the stage's code (`Stage.code`).
    public var code: String

    public init(kind: String, parameters: JSONValue, inputKeys: [StageKey], assets: [String: String], code: String) {
        self.kind = kind
        self.parameters = parameters
        self.inputKeys = inputKeys
        self.assets = assets
        self.code = code
    }

    public var json: JSONValue {
        .object([
            "kind": .string(kind),
            "parameters": parameters,
            "inputs": .array(inputKeys.map { .string($0.hex) }),
            "assets": .object(assets.mapValues { .string($0) }),
            "code": .string(code),
        ])
    }

    public var canonicalText: String { json.canonicalText }

    public var key: StageKey { StageKey(validHex: sha256Hex(canonicalText)) }

    /// Reads a stored manifest back; `source` names the file in errors.
    public init(json: JSONValue, source: String) throws {
        func fail(_ what: String) -> FormatError { FormatError(source, "not a stage manifest: \(what)") }
        guard let kind = json["kind"]?.stringValue else { throw fail("missing string 'kind'") }
        guard let code = json["code"]?.stringValue else { throw fail("missing string 'code'") }
        guard let parameters = json["parameters"] else { throw fail("missing 'parameters'") }
        guard let inputs = json["inputs"]?.arrayValue else { throw fail("missing array 'inputs'") }
        let keys = try inputs.map { item -> StageKey in
            guard let text = item.stringValue, let key = StageKey(hex: text) else { throw fail("input '\(item)' is not a key") }
            return key
        }
        guard case .object(let assetValues)? = json["assets"] else { throw fail("missing object 'assets'") }
        var assets: [String: String] = [:]
        for (name, value) in assetValues {
            guard let checksum = value.stringValue else { throw fail("asset '\(name)' checksum is not a string") }
            assets[name] = checksum
        }
        self.init(kind: kind, parameters: parameters, inputKeys: keys, assets: assets, code: code)
    }
}
