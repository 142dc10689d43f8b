#include "net/byte_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "base/log.h"
#include "net/asio_access.h"

// TLS and plain TCP streams on an Asio socket, made for many idle connections.
//
// The TLS stream does not use asio::ssl::stream: that keeps two 17 KiB buffers per connection for
// its whole life. Here OpenSSL talks to a BIO of our own whose reads come straight from the
// shard's scratch buffer (what the socket just gave) and whose writes append to the connection's
// output string; with SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers between records.
// So an idle connection holds the SSL object, the socket and a few words.

namespace iothub::net {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Ciphertext (or plain bytes) read from sockets, and plaintext out of SSL_read: one of each per
// shard thread, shared by all its connections. A TLS record carries at most 16 KiB.
constexpr size_t kScratchBytes = 16 * 1024;

char* ScratchBuffer() {
  thread_local std::unique_ptr<char[]> buffer(new char[kScratchBytes]);
  return buffer.get();
}

char* PlaintextBuffer() {
  thread_local std::unique_ptr<char[]> buffer(new char[kScratchBytes]);
  return buffer.get();
}

// The OpenSSL error queue (per thread) as one readable line; clears it.
std::string TlsError(std::string_view what, int ssl_error) {
  std::string detail;
  if (unsigned long err = ERR_get_error(); err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    detail = buf;
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    detail = "unexpected end of the TLS stream";
  } else {
    detail = "SSL error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
  return std::string(what) + ": " + detail;
}

// Where OpenSSL reads from and writes to (see the top of the file). Its data pointer is the
// SocketStream's BioTarget.
struct BioTarget {
  std::string_view* input;  // ciphertext not yet consumed; advanced by reads
  std::string* output;      // ciphertext waiting for the socket; appended to by writes
};

int BioRead(BIO* bio, char* out, int len) {
  auto* target = static_cast<BioTarget*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  std::string_view& input = *target->input;
  if (input.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  size_t n = std::min(input.size(), static_cast<size_t>(std::max(len, 0)));
  std::memcpy(out, input.data(), n);
  input.remove_prefix(n);
  return static_cast<int>(n);
}

int BioWrite(BIO* bio, const char* in, int len) {
  auto* target = static_cast<BioTarget*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  target->output->append(in, static_cast<size_t>(len));
  return len;
}

long BioCtrl(BIO*, int cmd, long, void*) {  // NOLINT(google-runtime-int): OpenSSL's signature
  // OpenSSL flushes the write side after each flight; everything else is "not supported".
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* StreamBioMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "iothub stream");
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

std::string FormatDuration(Duration d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// One stream over a TCP socket, with TLS when `ssl_` is set. Lives in a shared_ptr kept alive by
// its pending Asio operations (and by its user); everything runs on the socket's shard thread.
class SocketStream final : public ByteStream, public std::enable_shared_from_this<SocketStream> {
 public:
  // `tls` with a null `ssl` (SSL_new failed) makes a stream that fails at Start.
  SocketStream(TcpConnection connection, bool tls, SSL* ssl, Duration handshake_timeout)
      : shard_(connection.shard()),
        remote_(connection.remote_endpoint()),
        socket_(std::move(AsioSocket(connection))),
        tls_(tls),
        ssl_(ssl),
        handshake_timeout_(handshake_timeout),
        bio_target_{&input_, &output_} {
    if (ssl_ != nullptr) {
      BIO* bio = BIO_new(StreamBioMethod());
      BIO_set_data(bio, &bio_target_);
      SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL owns it
      SSL_set_accept_state(ssl_);
      SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    }
  }

  ~SocketStream() override {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }

  void Start(std::shared_ptr<StreamHandler> handler) override {
    if (state_ != State::kNew) return;
    handler_ = std::move(handler);
    error_code ec;
    socket_.non_blocking(true, ec);  // reads are attempted after async_wait says "readable"
    if (ec) {
      Finish("cannot use the socket: " + ec.message());
      return;
    }
    if (tls_ && ssl_ == nullptr) {
      Finish("cannot create a TLS session");
      return;
    }
    if (ssl_ != nullptr) {
      state_ = State::kHandshake;
      ArmTimer(handshake_timeout_,
               "TLS handshake not finished within " + FormatDuration(handshake_timeout_));
      WaitReadable();
      return;
    }
    state_ = State::kOpen;
    // Posted so that OnOpen never runs inside the acceptor's call to Start.
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->state_ != State::kOpen) return;
      self->handler_->OnOpen();
      self->WaitReadable();
    });
  }

  void Write(std::string_view bytes) override {
    if (bytes.empty() || state_ >= State::kClosing) return;
    if (!tls_) {
      output_.append(bytes);
    } else if (state_ != State::kOpen) {
      early_plaintext_.append(bytes);  // sealed once the handshake is done
      return;
    } else if (!Seal(bytes)) {
      return;
    }
    StartWrite();
  }

  size_t pending_write_bytes() const override {
    // Once closed, nothing more will be written (a write in flight is failing).
    if (state_ == State::kClosed) return 0;
    return output_.size() + writing_.size() + early_plaintext_.size();
  }

  void PauseReading() override { paused_ = true; }

  void ResumeReading() override {
    if (!paused_) return;
    paused_ = false;
    // Posted: what was read before the pause is delivered from the loop, not inside the caller.
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->paused_ || self->state_ == State::kClosed) return;
      self->input_ = self->held_input_;
      self->Process();
      self->HoldInput();
      self->WaitReadable();
    });
  }

  void Close(Duration linger) override { BeginClose(linger, "closed by the server"); }

  void Abort() override { Finish("aborted by the server"); }

  size_t shard() const override { return shard_; }
  const std::string& remote_endpoint() const override { return remote_; }

 private:
  // kClosing: flushing what is queued (TLS: and the close_notify); kDraining: our side is shut
  // down, waiting (at most until the linger timer) for the peer's FIN so that closing does not
  // reset the connection under data the peer has yet to read.
  enum class State { kNew, kHandshake, kOpen, kClosing, kDraining, kClosed };

  void ArmTimer(Duration after, std::string why) {
    timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor());
    timer_->expires_after(after);
    timer_->async_wait([self = shared_from_this(), why = std::move(why)](error_code ec) {
      if (!ec) self->Finish(why);
    });
  }

  void CancelTimer() {
    if (timer_ != nullptr) timer_->cancel();
    timer_.reset();  // the pending wait owns its handler, not the timer's storage
  }

  void WaitReadable() {
    if (waiting_ || state_ == State::kClosed || peer_eof_) return;
    if (paused_ && (state_ == State::kHandshake || state_ == State::kOpen)) return;
    waiting_ = true;
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->waiting_ = false;
      self->OnReadable(ec);
    });
  }

  void OnReadable(error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      Finish("read failed: " + ec.message());
      return;
    }
    bool open = state_ == State::kHandshake || state_ == State::kOpen;
    if (paused_ && open) return;  // ResumeReading waits again
    char* scratch = ScratchBuffer();
    size_t n = socket_.read_some(asio::buffer(scratch, kScratchBytes), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      WaitReadable();
      return;
    }
    if (ec == asio::error::eof) {
      OnPeerEof();
      return;
    }
    if (ec) {
      Finish("read failed: " + ec.message());
      return;
    }
    if (open) {
      if (held_input_.empty()) {
        input_ = std::string_view(scratch, n);
      } else {  // resumed, and the socket's news came before the posted delivery of the old
        held_input_.append(scratch, n);
        input_ = held_input_;
      }
      Process();
      HoldInput();
    }  // else closing: what the peer still sends is dropped
    WaitReadable();
  }

  void OnPeerEof() {
    if (state_ == State::kHandshake) {
      Finish("the peer closed the connection during the TLS handshake");
    } else if (state_ == State::kOpen) {
      Finish("the peer closed the connection");
    } else if (state_ == State::kDraining || (!write_in_flight_ && output_.empty())) {
      Finish(close_reason_);
    } else {
      peer_eof_ = true;  // kClosing: finish flushing (the peer may only have half-closed)
    }
  }

  // Delivers what input_ holds (TLS: drives the handshake, then decrypts), as far as the state
  // and the pause allow.
  void Process() {
    if (ssl_ == nullptr) {
      if (state_ != State::kOpen || paused_ || input_.empty()) return;
      std::string_view bytes = input_;
      input_ = {};
      handler_->OnData(bytes);
      return;
    }
    if (state_ == State::kHandshake && !Handshake()) return;
    char* plaintext = PlaintextBuffer();
    // Only while there is something to decrypt: SSL_read on an empty input would allocate its
    // record buffer again (17 KiB) and keep it until the next record.
    while (state_ == State::kOpen && !paused_ && (!input_.empty() || SSL_has_pending(ssl_))) {
      ERR_clear_error();
      int n = SSL_read(ssl_, plaintext, static_cast<int>(kScratchBytes));
      if (n > 0) {
        handler_->OnData(std::string_view(plaintext, static_cast<size_t>(n)));
        continue;
      }
      int error = SSL_get_error(ssl_, n);
      StartWrite();  // reading may have produced records to send (key updates, alerts)
      if (error == SSL_ERROR_WANT_READ) return;
      if (error == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        BeginClose(std::chrono::seconds(5), "the peer closed the TLS session");
        return;
      }
      Finish(TlsError("TLS read failed", error));
      return;
    }
  }

  // Returns true once the handshake is done and the stream is open.
  bool Handshake() {
    ERR_clear_error();
    int result = SSL_do_handshake(ssl_);
    if (result != 1) {
      int error = SSL_get_error(ssl_, result);
      if (error == SSL_ERROR_WANT_READ) {
        StartWrite();
        return false;
      }
      Finish(TlsError("TLS handshake failed", error));  // flushes the alert, if it can
      return false;
    }
    state_ = State::kOpen;
    CancelTimer();
    StartWrite();
    handler_->OnOpen();
    if (state_ != State::kOpen) return false;
    if (!early_plaintext_.empty()) {
      std::string early = std::move(early_plaintext_);
      early_plaintext_ = std::string();
      if (!Seal(early)) return false;
      StartWrite();
    }
    return true;
  }

  // Encrypts `plaintext` into output_; false (and the stream finished) on failure.
  bool Seal(std::string_view plaintext) {
    ERR_clear_error();
    int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
    if (n <= 0) {
      Finish(TlsError("TLS write failed", SSL_get_error(ssl_, n)));
      return false;
    }
    return true;  // the BIO takes everything, so SSL_write never writes part
  }

  // Keeps what Process() could not deliver (paused) in held_input_, and nothing otherwise.
  void HoldInput() {
    const char* held = held_input_.data();
    if (input_.empty()) {
      std::string().swap(held_input_);
    } else if (input_.data() >= held && input_.data() <= held + held_input_.size()) {
      held_input_.erase(0, static_cast<size_t>(input_.data() - held));
    } else {
      held_input_.assign(input_);
    }
    input_ = {};
  }

  void StartWrite() {
    if (write_in_flight_ || output_.empty() || state_ == State::kClosed ||
        state_ == State::kDraining) {
      return;
    }
    writing_ = std::move(output_);
    output_ = std::string();
    write_in_flight_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(error_code ec) {
    write_in_flight_ = false;
    std::string().swap(writing_);  // give the memory back while idle
    if (state_ == State::kClosed) return;
    if (ec) {
      Finish("write failed: " + ec.message());
      return;
    }
    if (!output_.empty()) {
      StartWrite();
    } else if (state_ == State::kClosing) {
      ShutdownSend();
    } else if (state_ == State::kOpen) {
      handler_->OnDrained();
    }
  }

  void BeginClose(Duration linger, std::string why) {
    if (state_ == State::kNew || state_ == State::kHandshake) {
      Finish(why);
      return;
    }
    if (state_ != State::kOpen) return;
    state_ = State::kClosing;
    close_reason_ = std::move(why);
    std::string().swap(early_plaintext_);
    ArmTimer(linger, close_reason_ + " (linger " + FormatDuration(linger) + " expired)");
    if (ssl_ != nullptr) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // queues our close_notify; we do not wait for the peer's
      ERR_clear_error();
    }
    if (output_.empty() && !write_in_flight_) {
      ShutdownSend();
    } else {
      StartWrite();
    }
    WaitReadable();  // to see the peer's FIN even while paused
  }

  void ShutdownSend() {
    if (peer_eof_) {
      Finish(close_reason_);
      return;
    }
    state_ = State::kDraining;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    WaitReadable();
  }

  // Ends the stream: closes the socket (pending operations complete with operation_aborted,
  // their handlers hold this object until then) and posts OnClosed, so that it never runs inside
  // a call the user made (Abort, Close, Write).
  void Finish(std::string why) {
    if (state_ == State::kClosed) return;
    bool handshake_failed = state_ == State::kHandshake;
    state_ = State::kClosed;
    CancelTimer();
    error_code ignored;
    if (handshake_failed && !write_in_flight_ && !output_.empty()) {
      socket_.write_some(asio::buffer(output_), ignored);  // the alert, best effort
    }
    socket_.close(ignored);
    std::string().swap(output_);
    std::string().swap(held_input_);
    std::string().swap(early_plaintext_);
    input_ = {};
    if (handler_ == nullptr) return;
    asio::post(socket_.get_executor(), [self = shared_from_this(), why = std::move(why)] {
      std::shared_ptr<StreamHandler> handler = std::move(self->handler_);
      handler->OnClosed(why);
    });
  }

  size_t shard_;
  std::string remote_;  // before socket_: read from the connection before the socket moves out
  tcp::socket socket_;
  bool tls_;
  SSL* ssl_;  // null for plain TCP
  Duration handshake_timeout_;
  std::shared_ptr<StreamHandler> handler_;
  State state_ = State::kNew;
  bool paused_ = false;
  bool waiting_ = false;  // an async_wait is pending
  bool write_in_flight_ = false;
  bool peer_eof_ = false;
  std::unique_ptr<asio::steady_timer> timer_;  // the handshake timeout, then the linger
  std::string_view input_;                     // bytes being processed (scratch or held_input_)
  std::string held_input_;                     // read while paused
  std::string output_;                         // queued for the socket
  std::string writing_;                        // handed to async_write
  std::string early_plaintext_;                // written before the handshake finished
  std::string close_reason_;
  BioTarget bio_target_;
};

}  // namespace

std::shared_ptr<ByteStream> MakeTlsStream(TcpConnection connection, std::shared_ptr<TlsContext> tls,
                                          Duration handshake_timeout) {
  SSL* ssl = SSL_new(tls->native().native_handle());  // holds a reference to the SSL_CTX
  if (ssl == nullptr) HUB_LOG_ERROR("net", "{}", TlsError("SSL_new failed", SSL_ERROR_SSL));
  return std::make_shared<SocketStream>(std::move(connection), true, ssl, handshake_timeout);
}

std::shared_ptr<ByteStream> MakePlainStream(TcpConnection connection) {
  return std::make_shared<SocketStream>(std::move(connection), false, nullptr, Duration::zero());
}

}  // namespace iothub::net
