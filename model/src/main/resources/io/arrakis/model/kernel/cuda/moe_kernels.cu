// Arrakis: the CUDA kernels of one MoE layer's routed experts, compiled by NVRTC when the CUDA backend
// starts (CudaKernels.java). Self-contained on purpose, no header included, so that NVRTC needs no CUDA
// headers on the machine, only libnvrtc. bf16 values travel as raw 16-bit patterns.
//
// Layouts (row-major, set by the backend at load and per batch):
//   W13 [2 ff, d]  rows 0..ff-1 = gate_proj (w1), rows ff..2ff-1 = up_proj (w3), as checkpoints store them
//   W2  [d, ff]    down_proj (w2)
//   X   [T, d]     the batch's tokens in bf16
//   a "slot" is one (token, expert) pair; slots are numbered expert by expert, in the order of the plan
//   A   [P, ff]    silu(gate) * up of each slot, bf16
//   Y   [P, d]     each slot's expert output, float32, not yet weighted
//   out [T, d]     sum over a token's slots of weight * Y, float32 or bf16

typedef unsigned short bf16_t;
typedef unsigned int u32;

__device__ __forceinline__ float bf2f(bf16_t b) { return __uint_as_float(((u32) b) << 16); }

// round to nearest even, as torch and Java's Bf16 do; a NaN stays a (quiet) NaN
__device__ __forceinline__ bf16_t f2bf(float f) {
  u32 u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t) ((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16_t) (u >> 16);
}

__device__ __forceinline__ u32 pack2(float lo, float hi) { return ((u32) f2bf(hi) << 16) | (u32) f2bf(lo); }

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// ---------------------------------------------------------------------------------------------
// Ingest: the wire rows (float32 or bf16) to X in bf16, noting the first non-finite element.
// bad holds INT_MAX-like 0x7f7f7f7f before the launch; atomicMin keeps the lowest index.

extern "C" __global__ void ingest_f32(const float* __restrict__ in, bf16_t* __restrict__ x, long long n,
                                      int* __restrict__ bad) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    float v = in[i];
    if (!isfinite(v)) atomicMin(bad, (int) i);
    x[i] = f2bf(v);
  }
}

extern "C" __global__ void check_bf16(const bf16_t* __restrict__ x, long long n, int* __restrict__ bad) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    if ((x[i] & 0x7f80u) == 0x7f80u) atomicMin(bad, (int) i);
  }
}

// ---------------------------------------------------------------------------------------------
// For the cuBLAS path: rows gathered per expert, and SwiGLU over the fused gate/up product.

// xs[s] = x[rows[s]] for s < slots; d % 8 == 0, so a row is whole 16-byte words
extern "C" __global__ void gather_rows(const bf16_t* __restrict__ x, const int* __restrict__ rows, int slots, int d,
                                       bf16_t* __restrict__ xs) {
  int words = d / 8;
  long long total = (long long) slots * words;
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) gridDim.x * blockDim.x) {
    int s = (int) (i / words);
    int w = (int) (i % words);
    ((uint4*) (xs + (long long) s * d))[w] = ((const uint4*) (x + (long long) rows[s] * d))[w];
  }
}

// a[s, j] = silu(h[s, j]) * h[s, ff + j]; ff % 8 == 0
extern "C" __global__ void swiglu(const bf16_t* __restrict__ h, int slots, int ff, bf16_t* __restrict__ a) {
  int pairs = ff / 2;
  long long total = (long long) slots * pairs;
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) gridDim.x * blockDim.x) {
    int s = (int) (i / pairs);
    int j = (int) (i % pairs) * 2;
    u32 g = *(const u32*) (h + (long long) s * 2 * ff + j);
    u32 u = *(const u32*) (h + (long long) s * 2 * ff + ff + j);
    float lo = silu(bf2f((bf16_t) (g & 0xffffu))) * bf2f((bf16_t) (u & 0xffffu));
    float hi = silu(bf2f((bf16_t) (g >> 16))) * bf2f((bf16_t) (u >> 16));
    *(u32*) (a + (long long) s * ff + j) = pack2(lo, hi);
  }
}

// ---------------------------------------------------------------------------------------------
// Combine: out[t] = sum over the token's slots, in plan order, of weight * y[slot]. One block per
// token; tokens no slot names come out zero. d % 8 == 0.

extern "C" __global__ void combine(const float* __restrict__ y, const int* __restrict__ tok_start,
                                   const int* __restrict__ tok_slots, const float* __restrict__ slot_w, int d,
                                   float* __restrict__ out_f32, bf16_t* __restrict__ out_bf16) {
  int t = blockIdx.x;
  int s0 = tok_start[t], s1 = tok_start[t + 1];
  for (int c = threadIdx.x * 4; c < d; c += blockDim.x * 4) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int i = s0; i < s1; i++) {
      int s = tok_slots[i];
      float w = slot_w[s];
      float4 v = *(const float4*) (y + (long long) s * d + c);
      acc.x += w * v.x; acc.y += w * v.y; acc.z += w * v.z; acc.w += w * v.w;
    }
    if (out_f32 != 0) {
      *(float4*) (out_f32 + (long long) t * d + c) = acc;
    } else {
      uint2 p; p.x = pack2(acc.x, acc.y); p.y = pack2(acc.z, acc.w);
      *(uint2*) (out_bf16 + (long long) t * d + c) = p;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Grouped skinny GEMM for experts with few rows (the weight-bound case): one launch covers every
// such expert. Block (blockIdx.x, blockIdx.y) computes 16 output features of one expert's token
// tile (up to 8 * NB slots) with mma.sync m16n8k16 (bf16 in, float32 accumulate); its 4 warps
// split the reduction dimension K and add their partial sums through shared memory. Each weight
// element is read from device memory once per tile; a tile holds all of an expert's rows here.
//
// Fragments are loaded as 16-byte words: lane (g = lane / 4, t = lane % 4) reads elements
// [kc + 8t, kc + 8t + 8) of weight rows g and g + 8 and of token row g. The two mma steps of a
// 32-wide chunk take that word's first and second halves, which permutes K identically for the
// weights (A) and the tokens (B), so the products are unchanged.

struct Tile {             // 24 bytes, as CudaPlan writes it
  unsigned long long w13; // the expert's W13 (gate/up launch)
  unsigned long long w2;  // the expert's W2 (down launch)
  int slot0;              // first slot of the tile
  int n;                  // slots in the tile, 1..8*NB
};

__device__ __forceinline__ void mma_bf16(float* c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint4 ld16(const bf16_t* p) { return __ldg((const uint4*) p); }

#define WARPS 4

// PAIR: the gate/up launch (two weight tiles, rows f and ff + f of W13, SwiGLU into A; tokens are
// rows of X picked through slot_rows). Otherwise the down launch (W2; tokens are rows of A by slot;
// float32 into Y). F = output features (ff or d), K = reduction (d or ff), both multiples of 8.
template <int NB, int U, bool PAIR>
__device__ __forceinline__ void grouped_body(const Tile* __restrict__ tiles, const bf16_t* __restrict__ in,
                                             const int* __restrict__ slot_rows, int F, int K,
                                             bf16_t* __restrict__ a_out, float* __restrict__ y_out) {
  constexpr int M = PAIR ? 2 : 1;
  __shared__ float red[WARPS][M][NB][4][32];
  const Tile tile = tiles[blockIdx.y];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int f0 = blockIdx.x * 16;
  if (f0 >= F) return;  // whole block: no barrier skipped by part of it
  const bf16_t* wbase = (const bf16_t*) (PAIR ? tile.w13 : tile.w2);
  const bool r0ok = f0 + g < F, r1ok = f0 + g + 8 < F;
  const bf16_t* wr[M][2];
#pragma unroll
  for (int m = 0; m < M; m++) {
    // the up rows start ff (= F) rows after the gate rows
    wr[m][0] = wbase + ((long long) (m * F + f0 + g)) * K + 8 * t;
    wr[m][1] = wbase + ((long long) (m * F + f0 + g + 8)) * K + 8 * t;
  }
  const bf16_t* xr[NB];
  bool xok[NB];
#pragma unroll
  for (int b = 0; b < NB; b++) {
    int i = 8 * b + g;
    xok[b] = i < tile.n;
    int slot = tile.slot0 + (xok[b] ? i : 0);
    long long row = PAIR ? slot_rows[slot] : slot;
    xr[b] = in + row * K + 8 * t;
  }
  float acc[M][NB][4];
#pragma unroll
  for (int m = 0; m < M; m++)
#pragma unroll
    for (int b = 0; b < NB; b++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[m][b][r] = 0.f;

  const int chunks = (K + 31) / 32;
  const int per = (chunks + WARPS - 1) / WARPS;
  const int cb = warp * per, ce = min(chunks, cb + per);
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  for (int c = cb; c < ce; c += U) {
    uint4 wv[U][M][2];
    uint4 xv[U][NB];
#pragma unroll
    for (int u = 0; u < U; u++) {
      int k = (c + u) * 32;
      bool kin = (c + u) < ce && k + 8 * t < K;
#pragma unroll
      for (int m = 0; m < M; m++) {
        wv[u][m][0] = (kin && r0ok) ? ld16(wr[m][0] + k) : zero;
        wv[u][m][1] = (kin && r1ok) ? ld16(wr[m][1] + k) : zero;
      }
#pragma unroll
      for (int b = 0; b < NB; b++) xv[u][b] = (kin && xok[b]) ? ld16(xr[b] + k) : zero;
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
#pragma unroll
      for (int m = 0; m < M; m++) {
#pragma unroll
        for (int b = 0; b < NB; b++) {
          mma_bf16(acc[m][b], wv[u][m][0].x, wv[u][m][1].x, wv[u][m][0].y, wv[u][m][1].y, xv[u][b].x, xv[u][b].y);
          mma_bf16(acc[m][b], wv[u][m][0].z, wv[u][m][1].z, wv[u][m][0].w, wv[u][m][1].w, xv[u][b].z, xv[u][b].w);
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; m++)
#pragma unroll
    for (int b = 0; b < NB; b++)
#pragma unroll
      for (int r = 0; r < 4; r++) red[warp][m][b][r][lane] = acc[m][b][r];
  __syncthreads();
  // fragment element (b, r, lane): feature f0 + g (+ 8 when r >= 2), slot 8b + 2t + (r & 1)
  for (int e = threadIdx.x; e < NB * 4 * 32; e += WARPS * 32) {
    int b = e / 128, r = (e / 32) % 4, l = e % 32;
    int f = f0 + (l >> 2) + (r >= 2 ? 8 : 0);
    int i = 8 * b + 2 * (l & 3) + (r & 1);
    if (f >= F || i >= tile.n) continue;
    float s0 = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; w++) s0 += red[w][0][b][r][l];
    long long slot = tile.slot0 + i;
    if (PAIR) {
      float s1 = 0.f;
#pragma unroll
      for (int w = 0; w < WARPS; w++) s1 += red[w][M - 1][b][r][l];
      a_out[slot * F + f] = f2bf(silu(s0) * s1);
    } else {
      y_out[slot * F + f] = s0;
    }
  }
}

#define GROUPED(NB, U)                                                                                     \
  extern "C" __global__ void __launch_bounds__(WARPS * 32) gateup_nb##NB(                                  \
      const Tile* __restrict__ tiles, const bf16_t* __restrict__ x, const int* __restrict__ slot_rows,     \
      int ff, int d, bf16_t* __restrict__ a) {                                                             \
    grouped_body<NB, U, true>(tiles, x, slot_rows, ff, d, a, 0);                                           \
  }                                                                                                        \
  extern "C" __global__ void __launch_bounds__(WARPS * 32) down_nb##NB(                                    \
      const Tile* __restrict__ tiles, const bf16_t* __restrict__ a, int d, int ff, float* __restrict__ y) { \
    grouped_body<NB, U, false>(tiles, a, 0, d, ff, 0, y);                                                  \
  }

GROUPED(1, 4)
GROUPED(2, 4)
GROUPED(4, 2)
GROUPED(8, 1)

// ---------------------------------------------------------------------------------------------
// Synthetic weights for benchmarks: a hash of (seed, index) to a bf16 uniform in [-scale, scale),
// the same function as CudaSynthetic.java computes on the host for spot checks.

__device__ __forceinline__ u32 mix32(unsigned long long z) {
  z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
  z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ULL;
  z = z ^ (z >> 33);
  return (u32) z;
}

extern "C" __global__ void fill_uniform(bf16_t* __restrict__ w, long long n, unsigned long long seed, float scale) {
  for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
    u32 h = mix32(seed * 0x9e3779b97f4a7c15ULL + (unsigned long long) i);
    float u = (float) (h >> 8) * (1.0f / 16777216.0f);  // [0, 1)
    w[i] = f2bf((2.0f * u - 1.0f) * scale);
  }
}
