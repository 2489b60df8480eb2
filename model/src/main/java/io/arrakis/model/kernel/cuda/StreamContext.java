package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static io.arrakis.model.kernel.cuda.Cuda.checkBlas;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;

import com.google.protobuf.ByteString;
import io.arrakis.model.kernel.backend.DeviceMemoryException;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;

/**
 * One compute thread's share of the GPU: its own stream (so one thread's copies overlap another's
 * kernels), up to {@value #LANES} lanes (streams with a cuBLAS handle each) over which the batch's
 * cuBLAS experts are spread so their GEMMs overlap one another and the grouped kernels, pinned host
 * buffers and device scratch, reused from batch to batch. Confined to its thread.
 */
final class StreamContext implements AutoCloseable {
  private static final long ALIGN = 256;
  private static final int MAX_GRID_Y = 65535;
  private static final int THREADS = 256;

  /** Fewer cuBLAS experts than this are issued from the batch's own thread. */
  private static final int PARALLEL_ENQUEUE_EXPERTS = 16;

  /** Streams the cuBLAS experts of a batch may be spread over, so that their GEMMs overlap. */
  static final int LANES = CudaOptions.MAX_LANES;

  private final CudaKernels kernels;
  private final int multiprocessors;
  private final CUstream_st stream = new CUstream_st();
  private final CUstream_st[] lanes = new CUstream_st[LANES];
  private final cublasContext[] laneBlas = new cublasContext[LANES];
  private final CUevent_st forked = new CUevent_st();
  private final CUevent_st[] joined = new CUevent_st[LANES];
  private final FloatPointer one = new FloatPointer(1f);
  private final FloatPointer zero = new FloatPointer(0f);
  private final DeviceBuffer hostIn;
  private final DeviceBuffer hostOut;
  private final DeviceBuffer in = DeviceBuffer.device("the batch's rows and plan");
  private final DeviceBuffer x = DeviceBuffer.device("the rows in bf16");
  private final DeviceBuffer gathered = DeviceBuffer.device("the rows gathered per expert");
  private final DeviceBuffer gateUp = DeviceBuffer.device("the gate/up products");
  private final DeviceBuffer act = DeviceBuffer.device("the SwiGLU activations");
  private final DeviceBuffer y = DeviceBuffer.device("the expert outputs");
  private final DeviceBuffer out = DeviceBuffer.device("the partial sums");
  private final Launcher main;
  private final Launcher[] laneLaunchers = new Launcher[LANES];
  private final int device;
  private final ExecutorService enqueuers;
  private CUevent_st[] events;

  StreamContext(
      int device,
      CudaKernels kernels,
      int multiprocessors,
      boolean pinned,
      ExecutorService enqueuers) {
    this.device = device;
    this.enqueuers = enqueuers;
    this.kernels = kernels;
    this.multiprocessors = multiprocessors;
    this.hostIn = DeviceBuffer.host("the batch's rows and plan", pinned);
    this.hostOut = DeviceBuffer.host("the partial sums", pinned);
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cudaEventCreateWithFlags(forked, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    for (int i = 0; i < LANES; i++) {
      lanes[i] = new CUstream_st();
      check(
          cudaStreamCreateWithFlags(lanes[i], cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
      laneBlas[i] = new cublasContext();
      checkBlas(cublasCreate_v2(laneBlas[i]), "cublasCreate");
      checkBlas(cublasSetStream_v2(laneBlas[i], lanes[i]), "cublasSetStream");
      joined[i] = new CUevent_st();
      check(
          cudaEventCreateWithFlags(joined[i], cudaEventDisableTiming), "cudaEventCreateWithFlags");
    }
    main = new Launcher(stream);
    for (int i = 0; i < LANES; i++) {
      laneLaunchers[i] = new Launcher(lanes[i]);
    }
  }

  /**
   * Times of the last batch run with timing, in milliseconds: on the device (events), and on the
   * host (writing rows and plan into the staging buffer, enqueueing the copies and kernels, waiting
   * for them, making the answer from the staging buffer).
   */
  record Times(
      float copyIn,
      float compute,
      float copyOut,
      double hostStage,
      double hostEnqueue,
      double hostWait,
      double hostAnswer) {}

  /**
   * Host time per stage over every batch this context ran, in nanoseconds: stage, enqueue, wait,
   * answer.
   */
  final long[] hostNanos = new long[4];

  long batches;

  /**
   * Runs one planned batch: rows and plan to the device in one copy, the kernels and GEMMs, the
   * partial sums back in one copy.
   */
  Tensor run(
      CudaPlan plan,
      Tensor hidden,
      CudaExpert[] experts,
      int d,
      int ff,
      int useLanes,
      Times[] timing)
      throws TensorCheckException {
    int tokens = plan.tokens;
    boolean bf16 = hidden.getDtype() == DType.BFLOAT16;
    long elements = (long) tokens * d;
    long inBytes = elements * (bf16 ? 2 : 4);
    long planAt = align(inBytes);
    long outBytes = elements * (bf16 ? 2 : 4);
    long[] w13 = new long[experts.length];
    long[] w2 = new long[experts.length];
    for (int i = 0; i < experts.length; i++) {
      w13[i] = experts[i].w13();
      w2[i] = experts[i].w2();
    }
    try {
      hostIn.ensure(planAt + plan.bytes());
      in.ensure(planAt + plan.bytes());
      hostOut.ensure(ALIGN + outBytes);
      out.ensure(ALIGN + outBytes);
      act.ensure(Math.max(1, (long) plan.slots * ff * 2));
      y.ensure(Math.max(1, (long) plan.slots * d * 4));
      if (!bf16) {
        x.ensure(elements * 2);
      }
      if (plan.bigSlots > 0) {
        gathered.ensure((long) plan.bigSlots * d * 2);
        gateUp.ensure((long) plan.bigSlots * 2 * ff * 2);
      }
    } catch (DeviceMemoryException e) {
      throw new TensorCheckException(
          "batch of "
              + tokens
              + " rows and "
              + plan.slots
              + " expert rows does not fit on the "
              + "device: "
              + e.getMessage(),
          true);
    }
    long n0 = System.nanoTime();
    ByteBuffer h = hostIn.host();
    hidden.getData().copyTo(h);
    h.position(Math.toIntExact(planAt));
    plan.write(h, w13, w2);

    long n1 = System.nanoTime();
    if (timing != null) {
      record(0);
    }
    check(
        cudaMemcpyAsync(
            in.at(0), hostIn.at(0), planAt + plan.bytes(), cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync(in)");
    if (timing != null) {
      record(1);
    }
    check(cudaMemsetAsync(out.at(0), 0x7f, 4, stream), "cudaMemsetAsync(flag)");
    long flag = out.address();
    long xs;
    if (bf16) {
      xs = in.address();
      ptr(xs).i64(elements).ptr(flag).launch(kernels.checkBf16, grid(elements), 1, THREADS);
    } else {
      xs = x.address();
      ptr(in.address())
          .ptr(xs)
          .i64(elements)
          .ptr(flag)
          .launch(kernels.ingestF32, grid(elements), 1, THREADS);
    }
    long planBase = in.address() + planAt;
    long slotRows = planBase + plan.slotRowsOffset();
    int lanesUsed = Math.min(Math.min(useLanes, LANES), plan.bigWork.length);
    if (plan.bigSlots > 0) {
      ptr(xs)
          .ptr(slotRows)
          .i32(plan.bigSlots)
          .i32(d)
          .ptr(gathered.address())
          .launch(kernels.gatherRows, grid((long) plan.bigSlots * d / 8), 1, THREADS);
      // each cuBLAS expert's gate/up GEMM, SwiGLU and down GEMM on one of the lanes, after the
      // gather; the grouped kernels below run meanwhile on the batch's own stream
      check(cudaEventRecord(forked, stream), "cudaEventRecord");
      for (int l = 0; l < lanesUsed; l++) {
        check(cudaStreamWaitEvent(lanes[l], forked, 0), "cudaStreamWaitEvent");
      }
      enqueueLanes(plan, experts, d, ff, lanesUsed);
    }
    for (int s = 0; s < CudaPlan.TILE_BLOCKS.length; s++) {
      for (int t0 = 0; t0 < plan.tiles(s); t0 += MAX_GRID_Y) {
        int n = Math.min(MAX_GRID_Y, plan.tiles(s) - t0);
        ptr(planBase + plan.tileOffset(s) + (long) t0 * CudaPlan.TILE_BYTES)
            .ptr(xs)
            .ptr(slotRows)
            .i32(ff)
            .i32(d)
            .ptr(act.address())
            .launch(kernels.gateup[s], (ff + 15) / 16, n, 128);
      }
    }
    for (int s = 0; s < CudaPlan.TILE_BLOCKS.length; s++) {
      for (int t0 = 0; t0 < plan.tiles(s); t0 += MAX_GRID_Y) {
        int n = Math.min(MAX_GRID_Y, plan.tiles(s) - t0);
        ptr(planBase + plan.tileOffset(s) + (long) t0 * CudaPlan.TILE_BYTES)
            .ptr(act.address())
            .i32(d)
            .i32(ff)
            .ptr(y.address())
            .launch(kernels.down[s], (d + 15) / 16, n, 128);
      }
    }
    for (int l = 0; l < lanesUsed; l++) {
      check(cudaEventRecord(joined[l], lanes[l]), "cudaEventRecord");
      check(cudaStreamWaitEvent(stream, joined[l], 0), "cudaStreamWaitEvent");
    }
    long sums = out.address() + ALIGN;
    ptr(y.address())
        .ptr(planBase + plan.tokenStartOffset())
        .ptr(planBase + plan.tokenSlotsOffset())
        .ptr(planBase + plan.slotWeightsOffset())
        .i32(d)
        .ptr(bf16 ? 0 : sums)
        .ptr(bf16 ? sums : 0)
        .launch(kernels.combine, tokens, 1, 128);
    if (timing != null) {
      record(2);
    }
    check(
        cudaMemcpyAsync(hostOut.at(0), out.at(0), ALIGN + outBytes, cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync(out)");
    if (timing != null) {
      record(3);
    }
    long n2 = System.nanoTime();
    check(cudaStreamSynchronize(stream), "the batch's kernels");
    long n3 = System.nanoTime();
    ByteBuffer result = hostOut.host();
    int bad = result.getInt(0);
    if (bad != 0x7f7f7f7f) {
      throw new TensorCheckException(
          "hidden_states contains NaN or infinite values (first at element " + bad + ")", false);
    }
    result.position((int) ALIGN).limit(Math.toIntExact(ALIGN + outBytes));
    Tensor answer =
        Tensor.newBuilder()
            .setDtype(hidden.getDtype())
            .addShape(tokens)
            .addShape(d)
            .setData(ByteString.copyFrom(result))
            .build();
    long n4 = System.nanoTime();
    hostNanos[0] += n1 - n0;
    hostNanos[1] += n2 - n1;
    hostNanos[2] += n3 - n2;
    hostNanos[3] += n4 - n3;
    batches++;
    if (timing != null) {
      timing[0] =
          new Times(
              elapsed(0, 1),
              elapsed(1, 2),
              elapsed(2, 3),
              (n1 - n0) / 1e6,
              (n2 - n1) / 1e6,
              (n3 - n2) / 1e6,
              (n4 - n3) / 1e6);
    }
    return answer;
  }

  /**
   * The cuBLAS experts' work on the lanes: expert b on lane b mod lanes. With many experts the
   * lanes are filled by the enqueue pool in parallel: issuing three calls per expert (about 12 µs
   * each through JavaCPP and cuBLAS) from one thread would take longer than the device takes to run
   * them (measured: 8.9 ms of issuing for 256 DeepSeek-V3 experts, whose weights stream in about 7
   * ms).
   */
  private void enqueueLanes(CudaPlan plan, CudaExpert[] experts, int d, int ff, int lanesUsed) {
    if (enqueuers == null || plan.bigWork.length < PARALLEL_ENQUEUE_EXPERTS || lanesUsed == 1) {
      for (int l = 0; l < lanesUsed; l++) {
        enqueueLane(l, lanesUsed, plan, experts, d, ff);
      }
      return;
    }
    List<Future<?>> done = new ArrayList<>(lanesUsed);
    for (int l = 0; l < lanesUsed; l++) {
      int lane = l;
      done.add(
          enqueuers.submit(
              () -> {
                check(cudaSetDevice(device), "cudaSetDevice");
                enqueueLane(lane, lanesUsed, plan, experts, d, ff);
              }));
    }
    RuntimeException failure = null;
    for (Future<?> f : done) {
      try {
        f.get();
      } catch (ExecutionException e) {
        if (failure == null) {
          failure =
              e.getCause() instanceof RuntimeException r
                  ? r
                  : new IllegalStateException(e.getCause());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failure = new IllegalStateException("interrupted while the lanes were being filled", e);
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void enqueueLane(
      int l, int lanesUsed, CudaPlan plan, CudaExpert[] experts, int d, int ff) {
    for (int b = l; b < plan.bigWork.length; b += lanesUsed) {
      int s0 = plan.bigSlot0[b];
      int n = plan.bigRows[b];
      CudaExpert e = experts[plan.bigWork[b]];
      checkBlas(
          cublasGemmEx(
              laneBlas[l],
              CUBLAS_OP_T,
              CUBLAS_OP_N,
              2 * ff,
              n,
              d,
              one,
              e.w13Pointer(),
              CUDA_R_16BF,
              d,
              gathered.at((long) s0 * d * 2),
              CUDA_R_16BF,
              d,
              zero,
              gateUp.at((long) s0 * 2 * ff * 2),
              CUDA_R_16BF,
              2 * ff,
              CUBLAS_COMPUTE_32F,
              CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx(gate/up)");
      laneLaunchers[l]
          .ptr(gateUp.address() + (long) s0 * 2 * ff * 2)
          .i32(n)
          .i32(ff)
          .ptr(act.address() + (long) s0 * ff * 2)
          .launch(kernels.swiglu, grid((long) n * ff / 2), 1, THREADS);
      checkBlas(
          cublasGemmEx(
              laneBlas[l],
              CUBLAS_OP_T,
              CUBLAS_OP_N,
              d,
              n,
              ff,
              one,
              e.w2Pointer(),
              CUDA_R_16BF,
              ff,
              act.at((long) s0 * ff * 2),
              CUDA_R_16BF,
              ff,
              zero,
              y.at((long) s0 * d * 4),
              CUDA_R_32F,
              d,
              CUBLAS_COMPUTE_32F,
              CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx(down)");
    }
  }

  /**
   * Fills {@code bytes / 2} bf16 values at {@code address} with the synthetic weights' hash
   * (benchmarks).
   */
  void fillUniform(long address, long count, long seed, float scale) {
    ptr(address)
        .i64(count)
        .i64(seed)
        .f32(scale)
        .launch(kernels.fillUniform, grid(count), 1, THREADS);
    check(cudaStreamSynchronize(stream), "fill_uniform");
  }

  private static long align(long bytes) {
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
  }

  private int grid(long work) {
    long blocks = (work + THREADS - 1) / THREADS;
    return (int) Math.max(1, Math.min(blocks, 32L * multiprocessors));
  }

  private Launcher ptr(long address) {
    return main.ptr(address);
  }

  private void record(int i) {
    if (events == null) {
      events = new CUevent_st[4];
      for (int e = 0; e < events.length; e++) {
        events[e] = new CUevent_st();
        check(cudaEventCreate(events[e]), "cudaEventCreate");
      }
    }
    check(cudaEventRecord(events[i], stream), "cudaEventRecord");
  }

  private float elapsed(int from, int to) {
    float[] ms = new float[1];
    check(cudaEventElapsedTime(ms, events[from], events[to]), "cudaEventElapsedTime");
    return ms[0];
  }

  @Override
  public void close() {
    cudaStreamSynchronize(stream);
    for (DeviceBuffer b :
        new DeviceBuffer[] {hostIn, hostOut, in, x, gathered, gateUp, act, y, out}) {
      b.free();
    }
    if (events != null) {
      for (CUevent_st e : events) {
        cudaEventDestroy(e);
      }
    }
    for (int i = 0; i < LANES; i++) {
      cudaStreamSynchronize(lanes[i]);
      cublasDestroy_v2(laneBlas[i]);
      cudaStreamDestroy(lanes[i]);
      cudaEventDestroy(joined[i]);
    }
    cudaEventDestroy(forked);
    cudaStreamDestroy(stream);
    main.close();
    for (Launcher l : laneLaunchers) {
      l.close();
    }
    one.close();
    zero.close();
  }
}
