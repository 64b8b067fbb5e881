// Sending e-mail through an SMTP server with libcurl (notices to labeling
// team members). The settings come from the server's configuration; the
// password never reaches a log.
#pragma once
#include <string>

namespace atelier::mail {

struct Smtp {
  std::string url;       // smtp://host:port (STARTTLS when `starttls`) or smtps://host:port (TLS); "" = none configured
  std::string user, password;
  std::string from;      // the sender address
  bool starttls = false;  // require STARTTLS on smtp://
};

struct Message {
  std::string to, subject, body;  // body: plain text, UTF-8
};

// Sends one message. Throws std::runtime_error with the reason (the server
// refused the recipient, could not be reached, ...).
void send(const Smtp& smtp, const Message& m);

}  // namespace atelier::mail
