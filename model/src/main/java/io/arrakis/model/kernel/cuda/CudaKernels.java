package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static io.arrakis.model.kernel.cuda.Cuda.checkNvrtc;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBIN;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBINSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcVersion;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The kernels of {@code moe_kernels.cu} (a resource beside this class), compiled by NVRTC for the
 * device's architecture when the backend starts and loaded into the device's primary context.
 */
final class CudaKernels {
  static final String SOURCE = "moe_kernels.cu";
  static final List<String> NAMES =
      List.of(
          "ingest_f32",
          "check_bf16",
          "gather_rows",
          "swiglu",
          "combine",
          "gateup_nb1",
          "gateup_nb2",
          "gateup_nb4",
          "gateup_nb8",
          "down_nb1",
          "down_nb2",
          "down_nb4",
          "down_nb8",
          "fill_uniform");

  final CUfunc_st ingestF32;
  final CUfunc_st checkBf16;
  final CUfunc_st gatherRows;
  final CUfunc_st swiglu;
  final CUfunc_st combine;
  final CUfunc_st[] gateup = new CUfunc_st[CudaPlan.TILE_BLOCKS.length];
  final CUfunc_st[] down = new CUfunc_st[CudaPlan.TILE_BLOCKS.length];
  final CUfunc_st fillUniform;
  final String nvrtcVersion;

  private final CUmod_st module;

  private CudaKernels(CUmod_st module, String nvrtcVersion) {
    this.module = module;
    this.nvrtcVersion = nvrtcVersion;
    this.ingestF32 = function("ingest_f32");
    this.checkBf16 = function("check_bf16");
    this.gatherRows = function("gather_rows");
    this.swiglu = function("swiglu");
    this.combine = function("combine");
    for (int s = 0; s < gateup.length; s++) {
      gateup[s] = function("gateup_nb" + CudaPlan.TILE_BLOCKS[s]);
      down[s] = function("down_nb" + CudaPlan.TILE_BLOCKS[s]);
    }
    this.fillUniform = function("fill_uniform");
  }

  /**
   * Compiles for compute capability {@code major.minor} and loads the module (the context is
   * current).
   */
  static CudaKernels load(int major, int minor) {
    byte[] cubin = compile("sm_" + major + minor);
    CUmod_st module = new CUmod_st();
    check(cuModuleLoadData(module, new BytePointer(cubin)), "cuModuleLoadData");
    return new CudaKernels(module, nvrtcVersionString());
  }

  static String nvrtcVersionString() {
    int[] major = new int[1];
    int[] minor = new int[1];
    checkNvrtc(nvrtcVersion(major, minor), "nvrtcVersion");
    return major[0] + "." + minor[0];
  }

  /** The kernels as a CUBIN for {@code arch} (e.g. sm_90); throws with NVRTC's log on failure. */
  static byte[] compile(String arch) {
    _nvrtcProgram program = new _nvrtcProgram();
    checkNvrtc(
        nvrtcCreateProgram(
            program,
            new BytePointer(source()),
            new BytePointer(SOURCE),
            0,
            (PointerPointer<?>) null,
            (PointerPointer<?>) null),
        "nvrtcCreateProgram");
    try {
      String[] options = {"--gpu-architecture=" + arch, "-std=c++17"};
      int rc = nvrtcCompileProgram(program, options.length, new PointerPointer<>(options));
      if (rc != 0) {
        throw new CudaException(
            "NVRTC could not compile " + SOURCE + " for " + arch + ": " + log(program).strip(), rc);
      }
      SizeTPointer size = new SizeTPointer(1);
      checkNvrtc(nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
      byte[] cubin = new byte[Math.toIntExact(size.get())];
      checkNvrtc(nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
      return cubin;
    } finally {
      nvrtcDestroyProgram(program);
    }
  }

  private static String log(_nvrtcProgram program) {
    SizeTPointer size = new SizeTPointer(1);
    nvrtcGetProgramLogSize(program, size);
    BytePointer log = new BytePointer(size.get());
    nvrtcGetProgramLog(program, log);
    return log.getString();
  }

  static String source() {
    try (InputStream in = CudaKernels.class.getResourceAsStream(SOURCE)) {
      if (in == null) {
        throw new IllegalStateException(SOURCE + " is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private CUfunc_st function(String name) {
    CUfunc_st f = new CUfunc_st();
    check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
    return f;
  }
}
