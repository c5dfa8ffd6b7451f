import Foundation

/// The width of the terminal on `descriptor` in columns: the kernel's (TIOCGWINSZ), else
/// `$COLUMNS`, else 80.
public func terminalColumns(_ descriptor: Int32 = STDOUT_FILENO,
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
    var size = winsize()
    if ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    if let text = environment["COLUMNS"], let columns = Int(text), columns > 0 { return columns }
    return 80
}

/// `text` shortened to `width` characters by replacing its middle with `…`, so both its start and
/// its end stay readable (`toy[lr=0.5,fca=…]/train[digits/tvp]`); unchanged when it fits.
public func truncateMiddle(_ text: String, to width: Int) -> String {
    guard text.count > width else { return text }
    guard width > 1 else { return String(text.prefix(max(0, width))) }
    let kept = width - 1
    let tail = kept / 2, head = kept - tail
    return String(text.prefix(head)) + "…" + String(text.suffix(tail))
}
