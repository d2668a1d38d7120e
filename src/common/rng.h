// The one seeded random number generator of the core and engine-sim: xoshiro256** seeded with
// splitmix64, and uniform, geometric and exponential draws written out here.
//
// Why not <random>: the engines (std::mt19937_64) are exactly specified, but the distributions
// (std::uniform_int_distribution, std::geometric_distribution ...) are not, and libstdc++, libc++
// and MSVC give different values for the same seed. A simulation, a seeded engine-sim response or a
// test that pins numbers must give the same output wherever it runs, so every seeded draw goes
// through this class. (std::hash is not stable across libraries either: hash with xxHash.)
#pragma once

#include <cstdint>

namespace gf {

// splitmix64 (Steele, Lea, Flood 2014): one step of the sequence. Used to spread a 64-bit seed
// over xoshiro's 256-bit state, as its authors recommend.
constexpr uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** 1.0 (Blackman and Vigna 2018): fast, 256 bits of state, passes BigCrush. Meets
// UniformRandomBitGenerator, so std::shuffle may use it (std::shuffle's own order is not portable;
// prefer uniform_below for anything pinned).
class Rng {
 public:
  using result_type = uint64_t;

  explicit constexpr Rng(uint64_t seed) {
    for (uint64_t& word : s_)
      word = splitmix64_next(seed);
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~uint64_t{0}; }

  constexpr uint64_t operator()() { return next(); }
  constexpr uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits: every double it returns is exactly representable.
  double uniform01();
  // Uniform in [0, n), without modulo bias. 0 when n is 0.
  uint64_t uniform_below(uint64_t n);
  // Uniform in [lo, hi], both included. lo when hi < lo.
  int64_t uniform_int(int64_t lo, int64_t hi);
  // Failures before the first success of trials with success probability p, in (0, 1]: mean
  // (1 - p) / p, as std::geometric_distribution<>(p) means it.
  int64_t geometric(double p);
  // Exponential with the given mean (> 0).
  double exponential(double mean);

 private:
  static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4] = {};
};

}  // namespace gf
