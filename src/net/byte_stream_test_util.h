#pragma once

// For the stream tests (included by *_test.cc only): a StreamHandler that records what it is told,
// and a fixture serving each accepted loopback connection as a ByteStream with one of them.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "net/byte_stream.h"
#include "net/listener.h"
#include "net/shards.h"
#include "net/tls_context.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certificate.h"  // the tests' self-signed certificate (header only)

namespace iothub::net {

// Records the handler calls (thread-safe: the shard writes, the test thread waits and reads).
// Holds its stream weakly, as a front-end's session would not (the stream drops the handler after
// OnClosed, which breaks that cycle); the fixture keeps the streams.
class RecordingHandler : public StreamHandler {
 public:
  void OnOpen() override {
    std::lock_guard lock(mu);
    ++opened;
    if (on_open) on_open(*stream.lock());
    cv.notify_all();
  }
  void OnData(std::string_view bytes) override {
    std::lock_guard lock(mu);
    if (opened == 0) data_before_open = true;
    if (paused) data_while_paused = true;
    std::shared_ptr<ByteStream> s = stream.lock();
    if (s && ShardPool::CurrentShard() != std::optional<size_t>(s->shard())) off_shard = true;
    data.append(bytes);
    ++data_calls;
    if (s) {
      if (echo) s->Write(bytes);
      if (pause_on_data) {
        paused = true;
        s->PauseReading();
      }
    }
    cv.notify_all();
  }
  void OnDrained() override {
    std::lock_guard lock(mu);
    ++drained;
    cv.notify_all();
  }
  void OnClosed(std::string_view reason) override {
    std::lock_guard lock(mu);
    ++closed;
    why = std::string(reason);
    cv.notify_all();
  }

  // Waits (at most 10 s) until `done()` holds, checked under the lock.
  bool Wait(const std::function<bool()>& done) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), done);
  }
  bool WaitData(size_t bytes) {
    return Wait([&] { return data.size() >= bytes; });
  }
  bool WaitClosed() {
    return Wait([&] { return closed > 0; });
  }

  std::mutex mu;
  std::condition_variable cv;
  std::weak_ptr<ByteStream> stream;
  bool echo = false;
  bool pause_on_data = false;  // pause after each OnData (the test resumes)
  std::function<void(ByteStream&)> on_open;
  int opened = 0;
  int drained = 0;
  int closed = 0;
  int data_calls = 0;
  bool paused = false;
  bool data_before_open = false;
  bool data_while_paused = false;
  bool off_shard = false;
  std::string data;
  std::string why;
};

// The streams a test server accepted, each started with a new RecordingHandler: Serve() runs on
// the shard, Get() waits on the test's thread.
class AcceptedStreams {
 public:
  // `configure` runs before Start.
  void Serve(std::shared_ptr<ByteStream> stream,
             const std::function<void(RecordingHandler&)>& configure) {
    auto handler = std::make_shared<RecordingHandler>();
    handler->stream = stream;
    if (configure) configure(*handler);
    {
      std::lock_guard lock(mu_);
      streams_.push_back(stream);
      handlers_.push_back(handler);
    }
    cv_.notify_all();
    stream->Start(handler);
  }

  // The i-th stream and its handler (waits up to 10 s for it).
  std::pair<std::shared_ptr<ByteStream>, std::shared_ptr<RecordingHandler>> Get(size_t i) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return streams_.size() > i; })) {
      ADD_FAILURE() << "no stream " << i << " accepted";
      return {};
    }
    return {streams_[i], handlers_[i]};
  }

  // Every stream so far (on the shard).
  std::vector<std::shared_ptr<ByteStream>> All() {
    std::lock_guard lock(mu_);
    return streams_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<ByteStream>> streams_;
  std::vector<std::shared_ptr<RecordingHandler>> handlers_;
};

// Runs `task` on shard 0 of `pool` and waits for it.
inline void RunOnShard(ShardPool& pool, const std::function<void()>& task) {
  std::promise<void> done;
  pool.executor(0).Post([&] {
    task();
    done.set_value();
  });
  done.get_future().wait();
}

// A one-shard pool and a listener on 127.0.0.1:0 whose connections become TLS (or plain)
// streams, each started with a new RecordingHandler.
class StreamFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::WriteSelfSignedCertificate(dir_.str()));
    auto tls = TlsContext::CreateServer(cert_file(), dir_.str() + "/key.pem");
    ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
    tls_ = *tls;
  }

  void TearDown() override {
    if (listener_ != nullptr) listener_->Close();
    OnShard([this] {
      for (auto& s : accepted_.All()) s->Abort();  // no-op for those already closed
    });
    pool_.Stop();
    pool_.Join();
  }

  std::string cert_file() const { return dir_.str() + "/cert.pem"; }

  // `configure` runs on the shard before Start.
  void Listen(bool tls, Duration handshake_timeout = std::chrono::seconds(10),
              std::function<void(RecordingHandler&)> configure = {}) {
    auto listener = Listener::Bind(pool_, {.name = "test", .address = "127.0.0.1", .port = 0},
                                   [this, tls, handshake_timeout, configure](TcpConnection c) {
                                     auto stream =
                                         tls ? MakeTlsStream(std::move(c), tls_, handshake_timeout)
                                             : MakePlainStream(std::move(c));
                                     accepted_.Serve(std::move(stream), configure);
                                   });
    ASSERT_TRUE(listener.has_value()) << listener.error().ToString();
    listener_ = std::move(*listener);
  }

  uint16_t port() const { return listener_->port(); }

  // The i-th accepted stream and its handler (waits for the accept).
  std::pair<std::shared_ptr<ByteStream>, std::shared_ptr<RecordingHandler>> Accepted(size_t i = 0) {
    return accepted_.Get(i);
  }

  // Runs `task` on the shard and waits for it.
  void OnShard(const std::function<void()>& task) { RunOnShard(pool_, task); }

  testing::TempDir dir_;
  ShardPool pool_{1};
  std::shared_ptr<TlsContext> tls_;
  std::unique_ptr<Listener> listener_;
  AcceptedStreams accepted_;
};

}  // namespace iothub::net
