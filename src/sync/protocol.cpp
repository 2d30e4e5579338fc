#include "sync/protocol.hpp"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "protocol_generated.h"

namespace outpost::sync {
namespace w = outpost::sync::wire;
namespace fb = flatbuffers;

namespace {

fb::Offset<fb::Vector<uint8_t>> bytes_of(fb::FlatBufferBuilder& b, std::string_view s) {
    return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

template <typename T>
std::string finish(fb::FlatBufferBuilder& b, w::Body type, fb::Offset<T> body) {
    auto msg = w::CreateMessage(b, type, body.Union());
    b.Finish(msg, w::MessageIdentifier());
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Status malformed(std::string what) {
    return Status(ErrorCode::kSyncMalformedMessage, std::move(what));
}

Result<ChangeSet> change_set_of(const fb::Vector<uint8_t>* v, const char* what) {
    if (!v) return malformed(std::string(what) + ": change set missing");
    auto cs = decode_change_set({v->data(), v->size()});
    if (!cs) return malformed(std::string(what) + ": " + cs.status().message());
    return std::move(cs).value();
}

template <typename V>
bool aligned8(const V* v) {
    return v == nullptr || v->size() == 0 || reinterpret_cast<uintptr_t>(v->Data()) % 8 == 0;
}

bool known_type(uint8_t t) {
    return t >= static_cast<uint8_t>(PropertyType::kBool) &&
           t <= static_cast<uint8_t>(PropertyType::kDateVector);
}

// ErrorCode from the wire: any int is accepted (a newer peer may send codes this side lacks).
ErrorCode code_of(int32_t c) { return static_cast<ErrorCode>(c); }

}  // namespace

std::string client_id_to_hex(const ClientId& id) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (uint8_t b : id) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

std::vector<ModelEntity> describe_model(const Model& model) {
    std::vector<ModelEntity> out;
    for (const auto& e : model.entities) {
        if (!e.sync) continue;
        ModelEntity me;
        me.uid = e.id.uid;
        for (const auto& p : e.properties) {
            if (p.has(kFlagId)) continue;
            me.properties.emplace_back(p.id.uid, p.type);
        }
        for (const auto& r : e.relations) me.relations.push_back(r.id.uid);
        out.push_back(std::move(me));
    }
    return out;
}

Status check_filter_variable(std::string_view name, std::string_view value,
                             const FilterVariables& variables) {
    auto letter = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    };
    const bool name_ok = !name.empty() && name.size() <= kMaxVariableName && letter(name[0]) &&
                         std::all_of(name.begin(), name.end(),
                                     [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
    if (!name_ok) {
        return Status(ErrorCode::kInvalidArgument,
                      "filter variable name '" + std::string(name.substr(0, kMaxVariableName)) +
                          "' is not [A-Za-z_][A-Za-z0-9_]{0,63}");
    }
    if (value.size() > kMaxVariableValue) {
        return Status(ErrorCode::kInvalidArgument,
                      "filter variable " + std::string(name) + ": value above " +
                          std::to_string(kMaxVariableValue) + " bytes");
    }
    if (variables.size() >= kMaxFilterVariables) {
        return Status(ErrorCode::kInvalidArgument,
                      "more than " + std::to_string(kMaxFilterVariables) + " filter variables");
    }
    for (const auto& [n, v] : variables) {
        if (n == name) {
            return Status(ErrorCode::kInvalidArgument,
                          "filter variable " + std::string(name) + " given twice");
        }
    }
    return Status::ok();
}

Status check_protocol_version(uint32_t version) {
    if (version >= kOldestSupportedProtocolVersion && version <= kProtocolVersion) {
        return Status::ok();
    }
    return Status(ErrorCode::kSyncBadVersion,
                  "protocol version " + std::to_string(version) +
                      " is not supported; this server accepts versions " +
                      std::to_string(kOldestSupportedProtocolVersion) + " to " +
                      std::to_string(kProtocolVersion));
}

const char* message_name(const Message& message) {
    static const char* kNames[] = {"Login",    "LoginResult",   "Push",      "Ack",  "Apply",
                                   "ApplyAck", "FullSyncChunk", "Heartbeat", "Error"};
    return kNames[message.index()];
}

std::string encode_apply(uint64_t server_seq, std::string_view encoded_change_set, bool more,
                         uint64_t tag) {
    fb::FlatBufferBuilder b(encoded_change_set.size() + 64);
    auto cs = bytes_of(b, encoded_change_set);
    return finish(b, w::Body_Apply, w::CreateApply(b, server_seq, cs, more, tag));
}

namespace {

void split_into(const ChangeSet& changes, size_t begin, size_t end, size_t budget,
                std::vector<ChangeSet>& out) {
    ChangeSet part;
    part.objects.assign(changes.objects.begin() + static_cast<std::ptrdiff_t>(begin),
                        changes.objects.begin() + static_cast<std::ptrdiff_t>(end));
    const size_t size = encode_change_set(part).size();
    if (size <= budget || end - begin == 1) {
        out.push_back(std::move(part));
        return;
    }
    // Even cuts by object count, a few more than the size asks for; a cut still too big is cut
    // again.
    const size_t n = std::min(end - begin, (size + budget - 1) / budget + 1);
    for (size_t k = 0; k < n; ++k) {
        const size_t b = begin + (end - begin) * k / n, e = begin + (end - begin) * (k + 1) / n;
        if (b != e) split_into(changes, b, e, budget, out);
    }
}

}  // namespace

std::vector<ChangeSet> split_change_set(const ChangeSet& changes, size_t budget) {
    std::vector<ChangeSet> out;
    if (changes.objects.empty()) {
        out.emplace_back();
        return out;
    }
    split_into(changes, 0, changes.objects.size(), std::max<size_t>(budget, 1), out);
    return out;
}

std::string encode_message(const Message& message) {
    fb::FlatBufferBuilder b(256);
    struct Visitor {
        fb::FlatBufferBuilder& b;
        std::string operator()(const Login& m) {
            std::vector<fb::Offset<w::EntityModel>> entities;
            for (const auto& e : m.model) {
                std::vector<w::PropertyModel> props;
                for (const auto& [uid, type] : e.properties) {
                    props.emplace_back(uid, static_cast<uint8_t>(type));
                }
                auto pv = b.CreateVectorOfStructs(props);
                auto rv = b.CreateVector(e.relations);
                entities.push_back(w::CreateEntityModel(b, e.uid, pv, rv));
            }
            auto model = b.CreateVector(entities);
            auto id = b.CreateVector(m.client_id.data(), m.client_id.size());
            auto cred = b.CreateString(m.credentials);
            fb::Offset<fb::Vector<uint8_t>> key;
            if (!m.client_key.empty()) key = b.CreateVector(m.client_key);
            fb::Offset<fb::Vector<fb::Offset<w::Variable>>> variables;
            if (!m.variables.empty()) {
                std::vector<fb::Offset<w::Variable>> vars;
                for (const auto& [name, value] : m.variables) {
                    vars.push_back(
                        w::CreateVariable(b, b.CreateString(name), b.CreateString(value)));
                }
                variables = b.CreateVector(vars);
            }
            return finish(b, w::Body_Login,
                          w::CreateLogin(b, m.protocol_version, id, cred, model, m.last_server_seq,
                                         m.last_server_tag, key, m.next_client_txn,
                                         m.credential_kind, variables, m.scope_tag));
        }
        std::string operator()(const LoginResult& m) {
            auto text = b.CreateString(m.message);
            fb::Offset<fb::Vector<uint8_t>> corrections;
            if (!m.corrections.empty()) corrections = bytes_of(b, encode_change_set(m.corrections));
            fb::Offset<fb::Vector<uint8_t>> scope_changes;
            if (!m.scope_changes.empty()) {
                scope_changes = bytes_of(b, encode_change_set(m.scope_changes));
            }
            return finish(
                b, w::Body_LoginResult,
                w::CreateLoginResult(b, static_cast<int32_t>(m.code), m.server_seq, text,
                                     m.last_client_txn, corrections, scope_changes, m.scope_tag));
        }
        std::string operator()(const Push& m) {
            auto cs = bytes_of(b, encode_change_set(m.changes));
            return finish(b, w::Body_Push, w::CreatePush(b, m.client_txn, cs, m.more));
        }
        std::string operator()(const Ack& m) {
            fb::Offset<fb::Vector<uint8_t>> corrections;
            if (!m.corrections.empty()) corrections = bytes_of(b, encode_change_set(m.corrections));
            return finish(b, w::Body_Ack,
                          w::CreateAck(b, m.client_txn, m.server_seq, corrections, m.server_tag));
        }
        std::string operator()(const Apply& m) {
            return encode_apply(m.server_seq, encode_change_set(m.changes), m.more, m.tag);
        }
        std::string operator()(const ApplyAck& m) {
            return finish(b, w::Body_ApplyAck, w::CreateApplyAck(b, m.server_seq));
        }
        std::string operator()(const FullSyncChunk& m) {
            auto cs = bytes_of(b, encode_change_set(m.changes));
            return finish(b, w::Body_FullSyncChunk,
                          w::CreateFullSyncChunk(b, m.server_seq, cs, m.last, m.tag));
        }
        std::string operator()(const Heartbeat&) {
            return finish(b, w::Body_Heartbeat, w::CreateHeartbeat(b));
        }
        std::string operator()(const Error& m) {
            auto text = b.CreateString(m.reason);
            return finish(b, w::Body_Error, w::CreateError(b, static_cast<int32_t>(m.code), text));
        }
    };
    return std::visit(Visitor{b}, message);
}

namespace {

Result<ModelEntity> decode_entity_model(const w::EntityModel* e) {
    ModelEntity me;
    me.uid = e->uid();
    // The verifier (2.0.x) checks a vector's length field, not the alignment of its 8-byte
    // elements: a crafted frame could make them misaligned.
    if (!aligned8(e->properties()) || !aligned8(e->relations())) {
        return malformed("Login: misaligned model vector");
    }
    if (e->properties()) {
        for (const w::PropertyModel* p : *e->properties()) {
            if (!known_type(p->type())) {
                return malformed("Login: unknown property type " + std::to_string(p->type()));
            }
            me.properties.emplace_back(p->uid(), static_cast<PropertyType>(p->type()));
        }
    }
    if (e->relations()) me.relations.assign(e->relations()->begin(), e->relations()->end());
    return me;
}

// The fields since version 5: credential kind, filter variables, scope tag.
Status decode_login_v5(const w::Login* m, Login& out) {
    if (out.credentials.size() > kMaxCredentialBytes) {
        return malformed("Login: credentials above " + std::to_string(kMaxCredentialBytes) +
                         " bytes");
    }
    out.credential_kind = m->credential_kind();
    if (out.credential_kind > 2) {
        return malformed("Login: unknown credential kind " + std::to_string(out.credential_kind));
    }
    out.scope_tag = m->scope_tag();
    if (!m->variables()) return Status::ok();
    for (const w::Variable* v : *m->variables()) {
        std::string name = v->name() ? v->name()->str() : std::string();
        std::string value = v->value() ? v->value()->str() : std::string();
        if (Status st = check_filter_variable(name, value, out.variables); !st) {
            return malformed("Login: " + st.message());
        }
        out.variables.emplace_back(std::move(name), std::move(value));
    }
    return Status::ok();
}

Result<Message> decode_login(const w::Login* m) {
    Login out;
    out.protocol_version = m->protocol_version();
    if (!m->client_id() || m->client_id()->size() != out.client_id.size()) {
        return malformed("Login: client_id must be 16 bytes");
    }
    std::copy(m->client_id()->begin(), m->client_id()->end(), out.client_id.begin());
    if (m->credentials()) out.credentials = m->credentials()->str();
    out.last_server_seq = m->last_server_seq();
    out.last_server_tag = m->last_server_tag();
    if (m->client_key() && m->client_key()->size() != 0) {
        if (m->client_key()->size() != ClientKey().size()) {
            return malformed("Login: client_key must be 32 bytes");
        }
        out.client_key.assign(m->client_key()->begin(), m->client_key()->end());
    }
    out.next_client_txn = m->next_client_txn();
    OUTPOST_RETURN_IF_ERROR(decode_login_v5(m, out));
    if (m->model()) {
        for (const w::EntityModel* e : *m->model()) {
            OUTPOST_ASSIGN_OR_RETURN(ModelEntity me, decode_entity_model(e));
            out.model.push_back(std::move(me));
        }
    }
    return Message(std::move(out));
}

Result<Message> decode_login_result(const w::LoginResult* m) {
    LoginResult out;
    out.code = code_of(m->code());
    out.server_seq = m->server_seq();
    if (m->message()) out.message = m->message()->str();
    out.last_client_txn = m->last_client_txn();
    if (m->corrections()) {
        OUTPOST_ASSIGN_OR_RETURN(out.corrections, change_set_of(m->corrections(), "LoginResult"));
    }
    if (m->scope_changes()) {
        OUTPOST_ASSIGN_OR_RETURN(out.scope_changes,
                                 change_set_of(m->scope_changes(), "LoginResult"));
    }
    out.scope_tag = m->scope_tag();
    return Message(std::move(out));
}

// The body of MSG, whose buffer the verifier accepted.
Result<Message> decode_body(const w::Message* msg) {
    switch (msg->body_type()) {
        case w::Body_Login:
            return decode_login(msg->body_as_Login());
        case w::Body_LoginResult:
            return decode_login_result(msg->body_as_LoginResult());
        case w::Body_Push: {
            const w::Push* m = msg->body_as_Push();
            // Transaction numbers start at 1: a 0 would be taken for a resend of nothing.
            if (m->client_txn() == 0) return malformed("Push: client_txn 0");
            OUTPOST_ASSIGN_OR_RETURN(ChangeSet cs, change_set_of(m->change_set(), "Push"));
            return Message(Push{m->client_txn(), std::move(cs), m->more()});
        }
        case w::Body_Ack: {
            const w::Ack* m = msg->body_as_Ack();
            ChangeSet corrections;
            if (m->corrections()) {
                OUTPOST_ASSIGN_OR_RETURN(corrections, change_set_of(m->corrections(), "Ack"));
            }
            return Message(
                Ack{m->client_txn(), m->server_seq(), std::move(corrections), m->server_tag()});
        }
        case w::Body_Apply: {
            const w::Apply* m = msg->body_as_Apply();
            OUTPOST_ASSIGN_OR_RETURN(ChangeSet cs, change_set_of(m->change_set(), "Apply"));
            return Message(Apply{m->server_seq(), std::move(cs), m->more(), m->tag()});
        }
        case w::Body_ApplyAck:
            return Message(ApplyAck{msg->body_as_ApplyAck()->server_seq()});
        case w::Body_FullSyncChunk: {
            const w::FullSyncChunk* m = msg->body_as_FullSyncChunk();
            OUTPOST_ASSIGN_OR_RETURN(ChangeSet cs, change_set_of(m->change_set(), "FullSyncChunk"));
            return Message(FullSyncChunk{m->server_seq(), std::move(cs), m->last(), m->tag()});
        }
        case w::Body_Heartbeat:
            return Message(Heartbeat{});
        case w::Body_Error: {
            const w::Error* m = msg->body_as_Error();
            Error out;
            out.code = code_of(m->code());
            if (m->reason()) out.reason = m->reason()->str();
            return Message(std::move(out));
        }
        case w::Body_NONE:
            break;
    }
    return malformed("message without a known body (type " + std::to_string(msg->body_type()) +
                     ")");
}

}  // namespace

Result<Message> decode_message(std::span<const uint8_t> frame, size_t max_size) {
    if (frame.size() > max_size) {
        return Status(ErrorCode::kSyncMessageTooLarge,
                      "message of " + std::to_string(frame.size()) +
                          " bytes is above the limit of " + std::to_string(max_size));
    }
    // FlatBuffers aligns fields relative to the buffer's start; reading them needs the buffer
    // itself 8-byte aligned (a frame may sit anywhere in a network buffer).
    std::vector<uint64_t> aligned;
    if (reinterpret_cast<uintptr_t>(frame.data()) % alignof(uint64_t) != 0) {
        aligned.resize((frame.size() + 7) / 8);
        std::memcpy(aligned.data(), frame.data(), frame.size());
        frame = {reinterpret_cast<const uint8_t*>(aligned.data()), frame.size()};
    }
    fb::Verifier::Options opts;
    opts.max_depth = 16;
    opts.max_tables = 1000000;
    fb::Verifier verifier(frame.data(), frame.size(), opts);
    if (frame.size() < 8 || !fb::BufferHasIdentifier(frame.data(), w::MessageIdentifier())) {
        return malformed("not a sync message (bad size or file identifier)");
    }
    if (!w::VerifyMessageBuffer(verifier))
        return malformed("the FlatBuffers verifier rejected the message");
    const w::Message* msg = w::GetMessage(frame.data());
    // The verifier accepts a union type whose value is absent: every body_as_X() below needs one.
    if (msg->body_type() != w::Body_NONE && msg->body() == nullptr) {
        return malformed("message body missing");
    }
    return decode_body(msg);
}

}  // namespace outpost::sync
