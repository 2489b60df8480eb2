package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static io.arrakis.model.kernel.cuda.Cuda.gib;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.BackendUnavailableException;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.kernel.backend.DeviceMemoryException;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CUDA backend: one GPU through JavaCPP's CUDA 13 presets. Weights live on the device in bf16
 * (float32 and float16 checkpoints are rounded at load), products accumulate in float32. A batch is
 * planned on the host ({@link CudaPlan}) and runs on the calling thread's own stream: experts with
 * many rows as cuBLAS GEMMs on rows gathered on the device, experts with few rows in one grouped
 * kernel launch per tile size (NVRTC-compiled at start-up, like the ingest, SwiGLU and combine
 * kernels), then one combine per token.
 *
 * <p>Never touches ND4J. Unloading waits for batches computing at that moment and fails those still
 * queued with the expert (the router retries them elsewhere).
 */
public final class CudaBackend implements ExpertBackend {
  private static final Logger log = LoggerFactory.getLogger(CudaBackend.class);

  private final CudaOptions options;
  private final CudaKernels kernels;
  private final String device;
  private final int multiprocessors;
  private final ThreadLocal<StreamContext> contexts = new ThreadLocal<>();
  private final List<StreamContext> allContexts = new ArrayList<>();
  private final List<CudaExpert> experts = new CopyOnWriteArrayList<>();
  // compute holds the read lock; freeing an expert's memory takes the write lock
  private final ReentrantReadWriteLock memory = new ReentrantReadWriteLock();
  // fills a batch's cuBLAS lanes in parallel when it has many cuBLAS experts (StreamContext)
  private final ExecutorService enqueuers =
      Executors.newFixedThreadPool(
          Math.min(StreamContext.LANES, Runtime.getRuntime().availableProcessors()),
          daemon("cuda-enqueue-"));
  // the weights on their way to the device, reused from expert to expert (guarded by this)
  private ByteBuffer staging;

  private final HostStaging.Choice hostStaging;

  private CudaBackend(
      CudaOptions options,
      CudaKernels kernels,
      String device,
      int multiprocessors,
      HostStaging.Choice staging) {
    this.options = options;
    this.kernels = kernels;
    this.device = device;
    this.multiprocessors = multiprocessors;
    this.hostStaging = staging;
  }

  /**
   * Opens GPU {@code options.device()}: loads the CUDA 13 libraries, checks the driver and the
   * device, compiles the kernels.
   *
   * @throws BackendUnavailableException with one line saying what is missing
   */
  public static CudaBackend open(CudaOptions options) {
    Cuda.loadLibraries();
    int[] count = new int[1];
    int rc = cudaGetDeviceCount(count);
    int[] driver = new int[1];
    cudaDriverGetVersion(driver);
    int[] runtime = new int[1];
    cudaRuntimeGetVersion(runtime);
    if (rc == 35) { // cudaErrorInsufficientDriver
      throw new BackendUnavailableException(
          "--device cuda: the NVIDIA driver supports CUDA "
              + Cuda.version(driver[0])
              + ", older than the CUDA "
              + Cuda.version(runtime[0])
              + " runtime needs");
    }
    if (rc == 100 || (rc == 0 && count[0] == 0)) { // cudaErrorNoDevice
      throw new BackendUnavailableException("--device cuda: no CUDA device on this machine");
    }
    if (rc != 0) {
      throw new BackendUnavailableException(
          "--device cuda: CUDA could not start: " + Cuda.errorName(rc) + " (" + rc + ")");
    }
    int index = options.device();
    if (index >= count[0]) {
      throw new BackendUnavailableException(
          "--device cuda:"
              + index
              + ": this machine has "
              + count[0]
              + (count[0] == 1
                  ? " CUDA device (cuda:0)"
                  : " CUDA devices (cuda:0 to cuda:" + (count[0] - 1) + ")"));
    }
    check(cudaSetDevice(index), "cudaSetDevice");
    cudaDeviceProp props = new cudaDeviceProp();
    check(cudaGetDeviceProperties(props, index), "cudaGetDeviceProperties");
    int major = props.major();
    int minor = props.minor();
    String name = props.name().getString();
    if (major < 8) {
      throw new BackendUnavailableException(
          "--device cuda:"
              + index
              + ": "
              + name
              + " has compute capability "
              + major
              + "."
              + minor
              + "; the CUDA backend needs 8.0 or newer (bf16 tensor cores)");
    }
    check(cudaFree(null), "creating the CUDA context");
    CudaKernels kernels = CudaKernels.load(major, minor);
    HostStaging.Choice staging = HostStaging.measure();
    String description =
        String.format(
            Locale.ROOT,
            "cuda:%d (%s, %s, sm %d.%d; driver %s, runtime %s, NVRTC %s)",
            index,
            name,
            gib(props.totalGlobalMem()),
            major,
            minor,
            Cuda.version(driver[0]),
            Cuda.version(runtime[0]),
            kernels.nvrtcVersion);
    return new CudaBackend(options, kernels, description, props.multiProcessorCount(), staging);
  }

  @Override
  public String name() {
    return "cuda";
  }

  @Override
  public String device() {
    return device;
  }

  @Override
  public DType computeDtype() {
    return DType.BFLOAT16;
  }

  public CudaOptions options() {
    return options;
  }

  /**
   * How rows and sums cross to the device: pinned or ordinary host buffers, and the reads that
   * chose.
   */
  public String staging() {
    return hostStaging.toString();
  }

  /** Free and total device memory, in bytes. */
  public long[] memoryInfo() {
    check(cudaSetDevice(options.device()), "cudaSetDevice");
    SizeTPointer free = new SizeTPointer(1);
    SizeTPointer total = new SizeTPointer(1);
    check(cudaMemGetInfo(free, total), "cudaMemGetInfo");
    return new long[] {free.get(), total.get()};
  }

  @Override
  public void checkRoom(int count, long bytes) throws DeviceMemoryException {
    long free = memoryInfo()[0];
    if (bytes > free - options.scratchReserveBytes()) {
      throw new DeviceMemoryException(
          String.format(
              Locale.ROOT,
              "%d experts need %s of device memory in bf16; %s has %s free, of which %s stays for batch buffers",
              count,
              gib(bytes),
              device.substring(0, device.indexOf(' ')),
              gib(free),
              gib(options.scratchReserveBytes())));
    }
  }

  @Override
  public synchronized BackendExpert load(ExpertWeights w) throws DeviceMemoryException {
    checkShape(w.hiddenSize(), w.ffnSize());
    checkRoom(1, w.bf16Bytes());
    long matrix = (long) w.hiddenSize() * w.ffnSize() * 2;
    BytePointer w13 = allocate(2 * matrix, "W13");
    BytePointer w2;
    try {
      w2 = allocate(matrix, "W2");
    } catch (DeviceMemoryException | RuntimeException e) {
      cudaFree(w13);
      throw e;
    }
    if (staging == null || staging.capacity() < 2 * matrix) {
      staging =
          ByteBuffer.allocateDirect(Math.toIntExact(2 * matrix)).order(ByteOrder.LITTLE_ENDIAN);
    }
    staging.clear();
    w.gate().writeBf16(staging);
    w.up().writeBf16(staging);
    upload(w13, staging);
    staging.clear();
    w.down().writeBf16(staging);
    upload(w2, staging);
    return register(new CudaExpert(w.hiddenSize(), w.ffnSize(), w13, w2));
  }

  /**
   * An expert of the given shape with synthetic weights made on the device (uniform, scaled by
   * 1/√K): benchmarks at real model sizes without the files. {@link CudaSynthetic} reproduces them.
   */
  public BackendExpert loadSynthetic(int d, int ff, long seed) throws DeviceMemoryException {
    checkShape(d, ff);
    checkRoom(1, 3L * d * ff * 2);
    long matrix = (long) d * ff * 2;
    BytePointer w13 = allocate(2 * matrix, "W13");
    BytePointer w2 = allocate(matrix, "W2");
    StreamContext ctx = context();
    ctx.fillUniform(
        w13.address(), 2L * d * ff, CudaSynthetic.seed(seed, 13), CudaSynthetic.scale(d));
    ctx.fillUniform(
        w2.address(), (long) d * ff, CudaSynthetic.seed(seed, 2), CudaSynthetic.scale(ff));
    return register(new CudaExpert(d, ff, w13, w2));
  }

  private static void checkShape(int d, int ff) {
    if (d % 8 != 0 || ff % 8 != 0) {
      throw new IllegalArgumentException(
          "the CUDA backend needs hidden and ffn sizes that are multiples of 8; got "
              + d
              + " and "
              + ff);
    }
  }

  private CudaExpert register(CudaExpert e) {
    experts.add(e);
    return e;
  }

  private BytePointer allocate(long bytes, String what) throws DeviceMemoryException {
    check(cudaSetDevice(options.device()), "cudaSetDevice");
    Pointer p = new Pointer();
    int rc = cudaMalloc(p, bytes);
    if (rc == 2) { // cudaErrorMemoryAllocation
      throw new DeviceMemoryException(
          "no room for an expert's "
              + what
              + " ("
              + gib(bytes)
              + ") on "
              + device
              + ": "
              + gib(memoryInfo()[0])
              + " free");
    }
    check(rc, "cudaMalloc(" + what + ")");
    return new BytePointer(p);
  }

  private static void upload(BytePointer dst, ByteBuffer src) {
    src.flip();
    check(
        cudaMemcpy(dst, new BytePointer(src), src.remaining(), cudaMemcpyHostToDevice),
        "cudaMemcpy(weights)");
  }

  @Override
  public void unload(BackendExpert expert) {
    CudaExpert e = (CudaExpert) expert;
    memory.writeLock().lock();
    try {
      if (e.freed()) {
        return;
      }
      e.markFreed();
      check(cudaSetDevice(options.device()), "cudaSetDevice");
      cudaFree(e.w13Pointer());
      cudaFree(e.w2Pointer());
    } finally {
      memory.writeLock().unlock();
    }
    experts.remove(e);
  }

  @Override
  public Tensor compute(Tensor hidden, List<BackendWork> work) throws TensorCheckException {
    return run(hidden, work, options, null);
  }

  /**
   * What {@link #computeTimed} measured: the answer, device times, the call's wall time and its
   * host stages (staging rows and plan, enqueueing, waiting, making the answer).
   */
  public record Timed(
      Tensor result,
      float copyInMs,
      float computeMs,
      float copyOutMs,
      double wallMs,
      double hostStageMs,
      double hostEnqueueMs,
      double hostWaitMs,
      double hostAnswerMs) {
    /** The same timings without the answer (so that a benchmark keeps no tensors). */
    public Timed withoutResult() {
      return new Timed(
          null,
          copyInMs,
          computeMs,
          copyOutMs,
          wallMs,
          hostStageMs,
          hostEnqueueMs,
          hostWaitMs,
          hostAnswerMs);
    }
  }

  /**
   * {@link #compute} with the given choice of expert path ({@code policy}'s grouped-kernel
   * thresholds), timed: device events around the copy of rows and plan to the device, the kernels,
   * the copy back; and the call's wall-clock time (planning and the host copies included). For
   * benchmarks.
   */
  public Timed computeTimed(Tensor hidden, List<BackendWork> work, CudaOptions policy)
      throws TensorCheckException {
    StreamContext.Times[] times = new StreamContext.Times[1];
    long t0 = System.nanoTime();
    Tensor result = run(hidden, work, policy, times);
    double wall = (System.nanoTime() - t0) / 1e6;
    StreamContext.Times t = times[0];
    return new Timed(
        result,
        t.copyIn(),
        t.compute(),
        t.copyOut(),
        wall,
        t.hostStage(),
        t.hostEnqueue(),
        t.hostWait(),
        t.hostAnswer());
  }

  private Tensor run(
      Tensor hidden, List<BackendWork> work, CudaOptions policy, StreamContext.Times[] timing)
      throws TensorCheckException {
    int tokens = Math.toIntExact(hidden.getShape(0));
    int d = Math.toIntExact(hidden.getShape(1));
    CudaExpert[] held = new CudaExpert[work.size()];
    int[][] rows = new int[work.size()][];
    float[][] weights = new float[work.size()][];
    int ff = -1;
    for (int i = 0; i < held.length; i++) {
      BackendWork w = work.get(i);
      held[i] = (CudaExpert) w.expert();
      if (held[i].hiddenSize() != d || (ff >= 0 && held[i].ffnSize() != ff)) {
        throw new IllegalArgumentException(
            "experts of one batch must share hidden size " + d + " and one ffn size");
      }
      ff = held[i].ffnSize();
      rows[i] = w.rows();
      weights[i] = w.weights();
    }
    if (ff < 0) {
      ff = 8; // no work: the combine writes zeros
    }
    CudaPlan plan =
        CudaPlan.of(
            tokens, rows, weights, i -> policy.grouped(i, rows[i].length, held[i].weightBytes()));
    StreamContext ctx = context();
    memory.readLock().lock();
    try {
      for (CudaExpert e : held) {
        if (e.freed()) {
          throw new IllegalStateException(
              "an expert of this batch was unloaded while the batch waited");
        }
      }
      return ctx.run(plan, hidden, held, d, ff, policy.lanes(), timing);
    } finally {
      memory.readLock().unlock();
    }
  }

  private StreamContext context() {
    StreamContext ctx = contexts.get();
    if (ctx == null) {
      ctx =
          new StreamContext(
              options.device(), kernels, multiprocessors, hostStaging.pinned(), enqueuers);
      contexts.set(ctx);
      synchronized (allContexts) {
        allContexts.add(ctx);
      }
    }
    return ctx;
  }

  private static ThreadFactory daemon(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.getAndIncrement());
      t.setDaemon(true);
      return t;
    };
  }

  /** Bytes of weights held on the device. */
  public long weightBytes() {
    return experts.stream().mapToLong(CudaExpert::weightBytes).sum();
  }

  /** Mean host time per batch by stage, over every batch computed so far. */
  public String hostStages() {
    long[] total = new long[4];
    long batches = 0;
    synchronized (allContexts) {
      for (StreamContext c : allContexts) {
        for (int i = 0; i < total.length; i++) {
          total[i] += c.hostNanos[i];
        }
        batches += c.batches;
      }
    }
    if (batches == 0) {
      return "no batches";
    }
    return String.format(
        Locale.ROOT,
        "%d batches, host ms per batch: staging rows and plan %.3f, enqueueing %.3f, "
            + "waiting for the device %.3f, making the answer %.3f",
        batches,
        total[0] / 1e6 / batches,
        total[1] / 1e6 / batches,
        total[2] / 1e6 / batches,
        total[3] / 1e6 / batches);
  }

  @Override
  public void close() {
    log.info("closing {}: {}", device, hostStages());
    memory.writeLock().lock();
    try {
      cudaSetDevice(options.device());
      synchronized (allContexts) {
        allContexts.forEach(StreamContext::close);
        allContexts.clear();
      }
      enqueuers.shutdown();
      List<CudaExpert> all = List.copyOf(experts);
      experts.clear();
      for (CudaExpert e : all) {
        e.markFreed();
        cudaFree(e.w13Pointer());
        cudaFree(e.w2Pointer());
      }
    } finally {
      memory.writeLock().unlock();
    }
  }
}
