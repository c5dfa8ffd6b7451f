import Foundation
import TVPCommands
import TVPPipeline
import TVPTensor

// OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so restart once with the kernel tvp runs on:
// the same one on every x86-64 CPU with AVX2 and FMA (the same prompts and tables on AMD and Intel
// machines), or with TVP_BLAS=fastest the fastest this CPU has (BLASKernel says why).
if let core = BLASKernel.restartCoreType() {
    if BLASKernel.wantsFastest() {
        FileHandle.standardError.write(Data("tvp-run: OpenBLAS does not know this CPU and chose its generic \(BLASKernel.coreName) kernel; restarting with OPENBLAS_CORETYPE=\(core)\n".utf8))
    }
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)       // returns only when the restart failed: go on as we are
}

// The real model families (llava, blip2, instructblip, the zoo), trained and evaluated by
// TVPPrompting's PromptTrainer and Evaluator.
TVPRunCommand.backend.set { PromptingBackend() }
exit(TVPRunCommand.main(Array(CommandLine.arguments.dropFirst())))
