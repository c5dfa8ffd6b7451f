import TVPData

/// Datasets the pipeline makes itself instead of fetching: CLEVR-style scenes drawn by TVPData's
/// renderer (`CLEVRRenderer`), so counting and object-presence tasks run without any archive.
///
/// - `clevr-render`: CLEVR counting ("How many objects…", candidates the split's counts); splits
///   `train`, `val`, `test`.
/// - `pope-render`: POPE-style yes/no object-presence probes over the renders; splits
///   `RENDER-SETTING` (`train-random`, `val-popular`, `test-adversarial`, …): the rendered split and
///   POPE's negative-sampling setting.
///
/// A split renders exactly `limit` scenes (required) at the prompt's image size from the task's seed.
public enum GeneratedDatasets {
    public static let clevrRender = "clevr-render"
    public static let popeRender = "pope-render"
    public static let names = [clevrRender, popeRender]
    /// The rendered splits.
    public static let renderSplits = ["train", "val", "test"]
    /// The most scenes one split may render (about 20 GB of PNGs at 224 px).
    public static let maximumScenes = 1_000_000

    /// The split names of a generated dataset (nil for other names).
    public static func splits(of dataset: String) -> [String]? {
        switch dataset {
        case clevrRender: return renderSplits
        case popeRender: return renderSplits.flatMap { split in POPE.settings.map { "\(split)-\($0)" } }
        default: return nil
        }
    }

    /// The rendered split a split of `dataset` reads (`val-popular` → `val`).
    public static func renderSplit(_ split: String) -> String {
        String(split.prefix { $0 != "-" })
    }

    /// The POPE setting of a `pope-render` split (`val-popular` → `popular`).
    public static func popeSetting(_ split: String) -> String {
        String(split.drop { $0 != "-" }.dropFirst())
    }
}
