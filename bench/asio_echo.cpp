// asio_echo: an IOCP peer for the Wine benchmarks, built on Debian's
// header-only asio (libasio-dev) and cross-compiled with mingw-w64, so that
// iocpd.exe's figures under Wine have a Windows program to stand next to.
//
//   asio_echo.exe echo PORT              echo server on 127.0.0.1:PORT
//   asio_echo.exe relay PORT UPPORT      relay 127.0.0.1:PORT -> 127.0.0.1:UPPORT
//
// Plain asio style: one io_context run by one thread (iocpd.exe runs with
// workers = 1 in the same benchmark), one read outstanding per direction
// and the next read only after the write of the previous chunk completed,
// which is also how iocpd's forward handler moves data. Buffers are 64 KiB
// per direction, iocpd's default buffer_size. Runs until killed.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include <asio.hpp>

using asio::ip::tcp;

namespace {

constexpr std::size_t kBufferSize = 65536;

// Echo: read a chunk, write it back, read again.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
public:
  explicit EchoSession(tcp::socket socket) : socket_(std::move(socket)) {}

  void Start() {
    asio::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    Read();
  }

private:
  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buf_),
                            [this, self](const asio::error_code &ec, std::size_t n) {
                              if (!ec) Write(n);
                            });
  }

  void Write(std::size_t n) {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [this, self](const asio::error_code &ec, std::size_t) {
                        if (!ec) Read();
                      });
  }

  tcp::socket socket_;
  std::array<char, kBufferSize> buf_;
};

// Relay: one client and one upstream socket; a Pump moves bytes one way.
class RelaySession : public std::enable_shared_from_this<RelaySession> {
public:
  RelaySession(tcp::socket client, asio::io_context &io)
      : client_(std::move(client)), upstream_(io) {}

  void Start(const tcp::endpoint &to) {
    auto self = shared_from_this();
    upstream_.async_connect(to, [this, self](const asio::error_code &ec) {
      if (ec) {
        Close();
        return;
      }
      asio::error_code ignored;
      client_.set_option(tcp::no_delay(true), ignored);
      upstream_.set_option(tcp::no_delay(true), ignored);
      Pump(client_, upstream_, to_upstream_);
      Pump(upstream_, client_, to_client_);
    });
  }

private:
  // Reads from `from` into buf; writes the chunk to `to`; repeats. On EOF
  // the other side gets a FIN (half-close); on an error both are closed.
  void Pump(tcp::socket &from, tcp::socket &to, std::array<char, kBufferSize> &buf) {
    auto self = shared_from_this();
    from.async_read_some(asio::buffer(buf), [this, self, &from, &to,
                                             &buf](const asio::error_code &ec, std::size_t n) {
      if (ec == asio::error::eof) {
        asio::error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        if (++finished_ == 2) Close();
        return;
      }
      if (ec) {
        Close();
        return;
      }
      asio::async_write(to, asio::buffer(buf.data(), n),
                        [this, self, &from, &to, &buf](const asio::error_code &wec, std::size_t) {
                          if (wec) {
                            Close();
                            return;
                          }
                          Pump(from, to, buf);
                        });
    });
  }

  void Close() {
    asio::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
  }

  tcp::socket client_;
  tcp::socket upstream_;
  int finished_ = 0;
  std::array<char, kBufferSize> to_upstream_;
  std::array<char, kBufferSize> to_client_;
};

class Server {
public:
  Server(asio::io_context &io, unsigned short port, bool relay, unsigned short upstream)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)),
        relay_(relay), upstream_(asio::ip::make_address("127.0.0.1"), upstream) {
    Accept();
  }

private:
  void Accept() {
    acceptor_.async_accept([this](const asio::error_code &ec, tcp::socket socket) {
      if (!ec) {
        if (relay_) {
          std::make_shared<RelaySession>(std::move(socket), io_)->Start(upstream_);
        } else {
          std::make_shared<EchoSession>(std::move(socket))->Start();
        }
      }
      Accept();
    });
  }

  asio::io_context &io_;
  tcp::acceptor acceptor_;
  bool relay_;
  tcp::endpoint upstream_;
};

int Usage() {
  std::fprintf(stderr, "usage: asio_echo echo PORT | asio_echo relay PORT UPPORT\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) return Usage();
  const std::string mode = argv[1];
  const bool relay = mode == "relay";
  if (!relay && mode != "echo") return Usage();
  if (relay && argc < 4) return Usage();
  const int port = std::atoi(argv[2]);
  const int upstream = relay ? std::atoi(argv[3]) : 1;
  if (port < 1 || port > 65535 || upstream < 1 || upstream > 65535) return Usage();
  try {
    asio::io_context io(1);
    Server server(io, static_cast<unsigned short>(port), relay,
                  static_cast<unsigned short>(upstream));
    std::fprintf(stderr, "asio_echo: %s on 127.0.0.1:%d\n", mode.c_str(), port);
    io.run();
  } catch (const std::exception &e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
