/// `tvp-run dag --format ascii|dot|mermaid`.
public enum GraphFormat: String, CaseIterable, Sendable {
    case ascii, dot, mermaid
}

extension StageGraph {
    /// The graph as text in `format`; with `plans` (from `plan(cache:)`), nodes show their status.
    public func render(_ format: GraphFormat, plans: [StagePlan]? = nil) -> String {
        switch format {
        case .ascii: return renderASCII(plans: plans)
        case .dot: return renderDot(plans: plans)
        case .mermaid: return renderMermaid(plans: plans)
        }
    }

    private func statusNote(_ index: Int, _ plans: [StagePlan]?) -> String {
        guard let plans else { return "" }
        return plans[index].status.isCached ? " [cached]" : " [to run]"
    }

    /// A tree from each root (a stage without inputs) down its dependents, ASCII only. A node with
    /// several inputs appears under each; after the first time it reads `(see above)`.
    public func renderASCII(plans: [StagePlan]? = nil) -> String {
        var lines: [String] = []
        var shown: Set<Int> = []
        func draw(_ index: Int, prefix: String, branch: String, childPrefix: String) {
            let node = nodes[index]
            let repeated = shown.contains(index) && !node.dependents.isEmpty
            lines.append(prefix + branch + node.name + statusNote(index, plans) + (repeated ? " (see above)" : ""))
            guard shown.insert(index).inserted else { return }
            for (position, child) in node.dependents.enumerated() {
                let last = position == node.dependents.count - 1
                draw(child, prefix: prefix + childPrefix, branch: last ? "`-- " : "+-- ", childPrefix: last ? "    " : "|   ")
            }
        }
        for node in nodes where node.inputs.isEmpty {
            draw(node.index, prefix: "", branch: "", childPrefix: "")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Edges (input → reader) without repeats, in graph order.
    private var edges: [(from: Int, to: Int)] {
        nodes.flatMap { node in
            var seen: Set<Int> = []
            return node.inputs.filter { seen.insert($0).inserted }.map { (from: $0, to: node.index) }
        }
    }

    /// Graphviz: nodes `n<index>` labelled with their names; cached nodes green, nodes to run amber.
    public func renderDot(plans: [StagePlan]? = nil) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var out = "digraph pipeline {\n  rankdir=TB;\n  node [shape=box];\n"
        for node in nodes {
            var attributes = "label=\(quoted(node.name))"
            if let plans {
                attributes += plans[node.index].status.isCached ? ", style=filled, fillcolor=\"#d4edda\"" : ", style=filled, fillcolor=\"#fff3cd\""
            }
            out += "  n\(node.index) [\(attributes)];\n"
        }
        for edge in edges { out += "  n\(edge.from) -> n\(edge.to);\n" }
        return out + "}\n"
    }

    /// Mermaid flowchart: nodes `n<index>["name"]`; with plans, classes `cached` and `torun`.
    public func renderMermaid(plans: [StagePlan]? = nil) -> String {
        func label(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\"", with: "#quot;") + "\""
        }
        var out = "flowchart TD\n"
        for node in nodes {
            var line = "  n\(node.index)[\(label(node.name))]"
            if let plans { line += plans[node.index].status.isCached ? ":::cached" : ":::torun" }
            out += line + "\n"
        }
        for edge in edges { out += "  n\(edge.from) --> n\(edge.to)\n" }
        if plans != nil {
            out += "  classDef cached fill:#d4edda,stroke:#2e7d32\n  classDef torun fill:#fff3cd,stroke:#b26a00\n"
        }
        return out
    }
}
