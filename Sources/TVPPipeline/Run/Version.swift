/// tvp's version: what run folders and their markers record, and what `tvp-run --version` prints.
public let tvpVersion = "0.1.0"
