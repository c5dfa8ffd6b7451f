import Foundation
import TVPPipeline

// The real model families (llava, blip2, instructblip, the zoo), trained and evaluated by
// TVPPrompting's PromptTrainer and Evaluator.
TVPRunCommand.backend.set { PromptingBackend() }
exit(TVPRunCommand.main(Array(CommandLine.arguments.dropFirst())))
