import Foundation
import TVPPipeline

exit(TVPRunCommand.main(Array(CommandLine.arguments.dropFirst())))
