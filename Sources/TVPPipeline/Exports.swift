@_exported import TVPPrompting
