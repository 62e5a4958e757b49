// A CPU backend whose steps wait for permits: lets a test hold the engine thread between
// steps, so that races (abort vs. finish, shutdown vs. finish) have one outcome.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "hearth/backend/backend.h"
#include "hearth/core/error.h"

namespace hearth::testing {

class GatedBackend : public Backend {
 public:
  explicit GatedBackend(int permits) : inner_(make_cpu_backend(1)), permits_(permits) {}

  // Lets `n` more steps run (n < 0: all from now on).
  void allow(int n) {
    {
      std::lock_guard lock(mutex_);
      if (n < 0) open_ = true; else permits_ += n;
    }
    cv_.notify_all();
  }
  // The next step fails with an Error (a device error, as the engine sees it).
  void fail_next_step() {
    std::lock_guard lock(mutex_);
    fail_next_ = true;
  }
  // Waits until the engine thread is blocked at the gate after `steps` steps in all
  // have passed it.
  void wait_until_blocked(int steps = 0) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return blocked_ && passed_ >= steps; });
  }

  std::unique_ptr<DeviceBatch> upload_batch(const StepBatch& b) override {
    {
      std::unique_lock lock(mutex_);
      blocked_ = permits_ == 0 && !open_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_ || permits_ > 0; });
      blocked_ = false;
      ++passed_;
      if (!open_) --permits_;
      if (fail_next_) {
        fail_next_ = false;
        throw Error("injected step failure");
      }
    }
    return inner_->upload_batch(b);
  }

  std::string name() const override { return "gated-cpu"; }
  DType activation_dtype() const override { return inner_->activation_dtype(); }
  TensorView alloc(DType d, const Shape& s) override { return inner_->alloc(d, s); }
  void free(TensorView& t) override { inner_->free(t); }
  ModelWeights upload_weights(const ModelWeights& w) override { return inner_->upload_weights(w); }
  void init_kv_cache(const KvCacheSpec& s) override { inner_->init_kv_cache(s); }
  const KvCacheSpec& kv_cache_spec() const override { return inner_->kv_cache_spec(); }
  void embedding(const Weight& t, const DeviceBatch& b, TensorView o) override { inner_->embedding(t, b, o); }
  void rms_norm(TensorView x, const Weight& w, float eps, TensorView o) override { inner_->rms_norm(x, w, eps, o); }
  void add_rms_norm(TensorView r, TensorView x, const Weight& w, float eps, TensorView o) override {
    inner_->add_rms_norm(r, x, w, eps, o);
  }
  void linear(TensorView x, const Weight& w, TensorView o) override { inner_->linear(x, w, o); }
  void qk_norm_rope(TensorView q, TensorView k, const Weight& qn, const Weight& kn, float eps, const RopeTable& rope,
                    const DeviceBatch& b) override {
    inner_->qk_norm_rope(q, k, qn, kn, eps, rope, b);
  }
  void attention(int layer, TensorView q, TensorView k, TensorView v, float scale, const DeviceBatch& b,
                 TensorView o) override {
    inner_->attention(layer, q, k, v, scale, b, o);
  }
  void swiglu(TensorView g, TensorView u, TensorView o) override { inner_->swiglu(g, u, o); }
  void gather_rows(TensorView x, const DeviceBatch& b, TensorView o) override { inner_->gather_rows(x, b, o); }
  void to_host_f32(TensorView x, float* dst) override { inner_->to_host_f32(x, dst); }
  void synchronize() override { inner_->synchronize(); }

 private:
  std::unique_ptr<Backend> inner_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int permits_;
  bool open_ = false;
  bool blocked_ = false;
  bool fail_next_ = false;
  int passed_ = 0;
};

}  // namespace hearth::testing
