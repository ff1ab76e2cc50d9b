#pragma once
// RabbitMQ's access control for AMQP commands (WAVE2.md A.3;
// docs/security.md "AMQP"): the vhost check of connection.open and the
// method-to-permission table, over the queue engine's commands (Q.*, X.*)
// as the AMQP front end builds them. One code path for the front end (fail
// fast, against its applied state) and for Apply (the authority: LOCKQ.AMQP
// sets the acting user and vhost, and Dispatch checks the command as of its
// log index, so every replica gives the same answer).
//
// Results are whole error lines: "NOTALLOWED ..." (connection.close 530)
// or "ACCESSREFUSED ..." (channel.close 403); common/error_class.h maps
// them to RabbitMQ's codes and texts.

#include <optional>
#include <string>
#include <string_view>

#include "common/argv.h"

namespace lockq::sm {

struct SmState;

// `user` (enabled) may open `vhost` (which exists).
std::optional<std::string> AmqpVhostDenied(const SmState& state, std::string_view user, std::string_view vhost);
// `user` may run argv in `vhost` (AmqpVhostDenied passed): RabbitMQ's
// configure/write/read table and topic permissions. argv passed
// CheckCommand; commands outside the queue engine are refused.
std::optional<std::string> AmqpCommandDenied(const SmState& state, std::string_view user, std::string_view vhost,
                                             const Argv& argv);

}  // namespace lockq::sm
