package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasGemmGroupedBatchedEx;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.arrakis.model.tensor.Bf16;
import java.util.SplittableRandom;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;

/**
 * Probes {@code cublasGemmGroupedBatchedEx} (one launch for GEMMs of different sizes) as the MoE
 * layer would use it: bf16 A, B, float32 C, float32 compute; device arrays of device pointers, host
 * arrays of sizes and of alpha/beta. Each group's result is compared with {@code cublasGemmEx} on
 * the same operands. Run in a process of its own: a fault here poisons the CUDA context.
 */
public final class GroupedGemmProbe {
  private GroupedGemmProbe() {}

  public static void main(String[] args) {
    Cuda.loadLibraries();
    check(cudaDeviceSynchronize(), "init");
    cublasContext h = new cublasContext();
    Cuda.checkBlas(cublasCreate_v2(h), "cublasCreate");
    // C[m, n] (column-major, as cuBLAS sees it) = op(A) B: A = weights [m rows, k] stored row-major
    // (OP_T on a column-major k x m), B = tokens [n, k] row-major (column-major k x n)
    int[] m = {256, 512, 128};
    int[] n = {3, 1, 17};
    int[] k = {512, 256, 1024};
    int groups = m.length;
    long[] a = new long[groups];
    long[] b = new long[groups];
    long[] c = new long[groups];
    long[] cRef = new long[groups];
    SplittableRandom r = new SplittableRandom(3);
    for (int g = 0; g < groups; g++) {
      a[g] = random(r, (long) m[g] * k[g]);
      b[g] = random(r, (long) n[g] * k[g]);
      c[g] = alloc((long) m[g] * n[g] * 4);
      cRef[g] = alloc((long) m[g] * n[g] * 4);
    }
    FloatPointer one = new FloatPointer(1f);
    FloatPointer zero = new FloatPointer(0f);
    for (int g = 0; g < groups; g++) {
      Cuda.checkBlas(
          cublasGemmEx(
              h,
              CUBLAS_OP_T,
              CUBLAS_OP_N,
              m[g],
              n[g],
              k[g],
              one,
              ptr(a[g]),
              CUDA_R_16BF,
              k[g],
              ptr(b[g]),
              CUDA_R_16BF,
              k[g],
              zero,
              ptr(cRef[g]),
              CUDA_R_32F,
              m[g],
              CUBLAS_COMPUTE_32F,
              CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
    }
    long da = deviceArray(a);
    long db = deviceArray(b);
    long dc = deviceArray(c);
    IntPointer ta = new IntPointer(groups);
    IntPointer tb = new IntPointer(groups);
    IntPointer sizes = new IntPointer(groups);
    FloatPointer alpha = new FloatPointer(groups);
    FloatPointer beta = new FloatPointer(groups);
    for (int g = 0; g < groups; g++) {
      ta.put(g, CUBLAS_OP_T);
      tb.put(g, CUBLAS_OP_N);
      sizes.put(g, 1);
      alpha.put(g, 1f);
      beta.put(g, 0f);
    }
    // the pointer arrays as void** arguments (PointerPointer): a plain Pointer there would be
    // passed
    // by reference, the address of a host variable holding the array's address (error 700 in the
    // spike)
    int rc =
        cublasGemmGroupedBatchedEx(
            h,
            ta,
            tb,
            new IntPointer(m),
            new IntPointer(n),
            new IntPointer(k),
            alpha,
            array(da),
            CUDA_R_16BF,
            new IntPointer(k),
            array(db),
            CUDA_R_16BF,
            new IntPointer(k),
            beta,
            array(dc),
            CUDA_R_32F,
            new IntPointer(m),
            groups,
            sizes,
            CUBLAS_COMPUTE_32F);
    int sync = cudaDeviceSynchronize();
    if (rc != 0 || sync != 0) {
      System.out.println(
          "grouped: FAILED cublas status "
              + rc
              + ", then "
              + Cuda.errorName(sync)
              + " ("
              + sync
              + ")");
      System.exit(2);
    }
    double worst = 0;
    for (int g = 0; g < groups; g++) {
      float[] got = download(c[g], m[g] * n[g]);
      float[] want = download(cRef[g], m[g] * n[g]);
      double max = 0;
      double err = 0;
      for (int i = 0; i < got.length; i++) {
        max = Math.max(max, Math.abs(want[i]));
        err = Math.max(err, Math.abs(got[i] - want[i]));
      }
      worst = Math.max(worst, err / max);
    }
    System.out.printf(
        "grouped: OK, %d groups of different sizes, max rel diff vs cublasGemmEx %.2e%n",
        groups, worst);
  }

  /** A pointer argument for a raw device address. */
  private static Pointer ptr(long at) {
    return new BytePointer() {
      {
        address = at;
      }
    };
  }

  private static PointerPointer<?> array(long deviceAddress) {
    return new PointerPointer<>(ptr(deviceAddress));
  }

  private static long alloc(long bytes) {
    Pointer p = new Pointer();
    check(cudaMalloc(p, bytes), "cudaMalloc");
    return p.address();
  }

  private static long random(SplittableRandom r, long count) {
    short[] h = new short[Math.toIntExact(count)];
    for (int i = 0; i < h.length; i++) {
      h[i] = Bf16.fromFloat((float) (r.nextDouble() * 2 - 1));
    }
    long d = alloc(count * 2);
    check(cudaMemcpy(ptr(d), new ShortPointer(h), count * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    return d;
  }

  private static long deviceArray(long[] pointers) {
    long d = alloc(8L * pointers.length);
    check(
        cudaMemcpy(ptr(d), new LongPointer(pointers), 8L * pointers.length, cudaMemcpyHostToDevice),
        "cudaMemcpy");
    return d;
  }

  private static float[] download(long d, int count) {
    FloatPointer h = new FloatPointer(count);
    check(cudaMemcpy(h, ptr(d), 4L * count, cudaMemcpyDeviceToHost), "cudaMemcpy");
    float[] out = new float[count];
    h.get(out);
    return out;
  }
}
