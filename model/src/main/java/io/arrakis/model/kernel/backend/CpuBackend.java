package io.arrakis.model.kernel.backend;

import static org.nd4j.linalg.api.environment.Nd4jEnvironment.BACKEND_KEY;
import static org.nd4j.linalg.api.environment.Nd4jEnvironment.BLAS_VENDOR_KEY;

import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The CPU backend: experts as {@link ExpertKernel}s (float32, ND4J arrays, OpenBLAS), a batch
 * through a {@link MoeCombiner} per compute thread, whose scratch is reused so native memory stays
 * flat under load. A BFLOAT16 request is widened, computed in float32 and answered in BFLOAT16.
 */
public final class CpuBackend implements ExpertBackend {
  private final String device;
  private final ThreadLocal<MoeCombiner> combiners = ThreadLocal.withInitial(MoeCombiner::new);

  private CpuBackend(String device) {
    this.device = device;
  }

  /**
   * Starts ND4J's CPU backend now, so that a machine it cannot run on gets one clear line rather
   * than a class-initializer trace from whichever call touches ND4J first, and sets OpenBLAS's
   * threads per product (OpenBLAS otherwise uses every core for each call, on top of the compute
   * threads).
   */
  public static CpuBackend start(int blasThreads) {
    CpuBackend backend = start();
    Blas.threads(blasThreads);
    return backend;
  }

  /** {@link #start(int)} leaving OpenBLAS's thread count as it is. */
  public static CpuBackend start() {
    Properties env;
    try {
      env = Nd4j.getExecutioner().getEnvironmentInformation();
    } catch (ExceptionInInitializerError | NoClassDefFoundError | RuntimeException e) {
      throw new BackendUnavailableException(
          "ND4J's CPU backend could not start on this machine (the warnings above say "
              + "what it lacked): it needs nd4j-native for linux-x86_64 with AVX2",
          e);
    }
    return new CpuBackend(describe(env));
  }

  static String describe(Properties env) {
    return "cpu (nd4j "
        + env.getProperty(BACKEND_KEY, "?")
        + ", blas "
        + env.getProperty(BLAS_VENDOR_KEY, "?")
        + ")";
  }

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public String device() {
    return device;
  }

  @Override
  public DType computeDtype() {
    return DType.FLOAT32;
  }

  @Override
  public BackendExpert load(ExpertWeights w) {
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return new CpuExpert(ExpertKernel.fromHf(matrix(w.gate()), matrix(w.up()), matrix(w.down())));
    }
  }

  private static INDArray matrix(WeightTensor t) {
    return NdArrays.fromBytesAsFloat(
        t.bytes(), NdArrays.dataType(t.dtype()), new long[] {t.rows(), t.cols()});
  }

  @Override
  public void unload(BackendExpert expert) {
    // the garbage collector frees it once no batch holds it
  }

  @Override
  public Tensor compute(Tensor hidden, List<BackendWork> work) throws TensorCheckException {
    MoeCombiner combiner = combiners.get();
    int tokens = Math.toIntExact(hidden.getShape(0));
    INDArray x = combiner.input(tokens, hidden.getShape(1));
    TensorCodec.decodeFloatInto(hidden, x);
    TensorChecks.checkFinite("hidden_states", x);
    List<ExpertWork> kernels = new ArrayList<>(work.size());
    for (BackendWork w : work) {
      kernels.add(new ExpertWork(((CpuExpert) w.expert()).kernel(), w.rows(), w.weights()));
    }
    ByteBuffer sums = combiner.combine(x, kernels);
    byte[] data = hidden.getDtype() == DType.BFLOAT16 ? toBf16(sums) : copy(sums);
    return Tensor.newBuilder()
        .setDtype(hidden.getDtype())
        .addShape(tokens)
        .addShape(hidden.getShape(1))
        .setData(UnsafeByteOperations.unsafeWrap(data))
        .build();
  }

  private static byte[] copy(ByteBuffer sums) {
    byte[] out = new byte[sums.remaining()];
    sums.duplicate().get(out);
    return out;
  }

  private static byte[] toBf16(ByteBuffer sums) {
    FloatBuffer f = sums.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    ByteBuffer out = ByteBuffer.allocate(f.remaining() * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0, n = f.remaining(); i < n; i++) {
      out.putShort(Bf16.fromFloat(f.get(i)));
    }
    return out.array();
  }

  @Override
  public void close() {
    // ND4J's arrays go with the garbage collector
  }

  private record CpuExpert(ExpertKernel kernel) implements BackendExpert {
    @Override
    public int hiddenSize() {
      return Math.toIntExact(kernel.hiddenSize());
    }

    @Override
    public int ffnSize() {
      return Math.toIntExact(kernel.ffnSize());
    }

    @Override
    public long weightBytes() {
      return kernel.weightBytes();
    }
  }
}
