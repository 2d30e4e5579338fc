#pragma once
// The typed API: bind a plain C++ struct to an entity, then put and get it through Box<T>.
//
//   struct User { uint64_t id = 0; std::string name; std::string email; };
//   OUTPOST_ENTITY(User, id, name, email)      // entity "User", properties named like the members
//
//   outpost::Box<User> users(store);
//   User u{0, "Ada", "ada@example.org"};
//   users.put(u);                              // u.id is now set
//
// Member types: bool; integers (int8..int64, also for date, dateNano); float, double; std::string;
// std::vector<uint8_t> (bytes); std::vector of integers, float/double or std::string;
// outpost::Flex; std::optional<X> of those (null when empty); ToOne<U> (to-one relation); ToMany<U>
// (to-many). A member whose C++ type does not fit its property's type makes the box unusable with a
// clear error (Box::status()).

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "outpost/store.hpp"

namespace outpost {

template <typename T>
struct ToOne {
    uint64_t id = 0;  // 0 = no target
    friend bool operator==(const ToOne&, const ToOne&) = default;
};

template <typename T>
struct ToMany {
    std::vector<uint64_t> ids;  // in order, duplicates kept
    friend bool operator==(const ToMany&, const ToMany&) = default;
};

template <typename C, typename M>
struct Field {
    std::string_view name;
    M C::*member;
};
template <typename C, typename M>
constexpr Field<C, M> field(std::string_view name, M C::*member) {
    return {name, member};
}

// Specialized by OUTPOST_ENTITY: entity name and the bound fields.
template <typename T>
struct Binding;

namespace detail {

template <typename>
struct IsOptional : std::false_type {};
template <typename X>
struct IsOptional<std::optional<X>> : std::true_type {};
template <typename>
struct IsToOne : std::false_type {};
template <typename X>
struct IsToOne<ToOne<X>> : std::true_type {};
template <typename>
struct IsToMany : std::false_type {};
template <typename X>
struct IsToMany<ToMany<X>> : std::true_type {};
template <typename>
struct IsVector : std::false_type {};
template <typename X>
struct IsVector<std::vector<X>> : std::true_type {
    using Element = X;
};

// Reads and writes one member of type M as property POS.
template <typename M>
struct FieldCodec {
    static bool accepts(PropertyType t) {
        if constexpr (IsOptional<M>::value) {
            return FieldCodec<typename M::value_type>::accepts(t);
        } else if constexpr (std::is_same_v<M, bool>) {
            return t == PropertyType::kBool;
        } else if constexpr (std::is_integral_v<M>) {
            return is_integer_type(t) && t != PropertyType::kRelation;
        } else if constexpr (std::is_floating_point_v<M>) {
            return t == PropertyType::kFloat || t == PropertyType::kDouble;
        } else if constexpr (std::is_same_v<M, std::string>) {
            return t == PropertyType::kString;
        } else if constexpr (std::is_same_v<M, Flex>) {
            return t == PropertyType::kFlex;
        } else if constexpr (IsToOne<M>::value) {
            return t == PropertyType::kRelation;
        } else if constexpr (std::is_same_v<M, std::vector<uint8_t>>) {
            return t == PropertyType::kBytes;
        } else if constexpr (IsVector<M>::value) {
            using E = typename IsVector<M>::Element;
            if constexpr (std::is_same_v<E, std::string>) {
                return t == PropertyType::kStringVector;
            } else if constexpr (std::is_floating_point_v<E>) {
                return t == PropertyType::kFloatVector || t == PropertyType::kDoubleVector;
            } else if constexpr (std::is_integral_v<E>) {
                return is_vector_type(t) && is_integer_type(element_type(t));
            } else {
                return false;
            }
        } else {
            return false;
        }
    }
    static void write(ObjectWriter& w, int pos, const M& v) {
        if constexpr (IsOptional<M>::value) {
            if (v) FieldCodec<typename M::value_type>::write(w, pos, *v);
        } else if constexpr (std::is_same_v<M, bool>) {
            w.set_bool(pos, v);
        } else if constexpr (std::is_integral_v<M>) {
            w.set_int(pos, static_cast<int64_t>(v));
        } else if constexpr (std::is_floating_point_v<M>) {
            w.set_double(pos, static_cast<double>(v));
        } else if constexpr (std::is_same_v<M, std::string>) {
            w.set_string(pos, v);
        } else if constexpr (std::is_same_v<M, Flex>) {
            if (!v.is_null()) w.set_flex(pos, v);
        } else if constexpr (IsToOne<M>::value) {
            w.set_int(pos, static_cast<int64_t>(v.id));
        } else if constexpr (std::is_same_v<M, std::vector<uint8_t>>) {
            w.set_bytes(pos, v);
        } else if constexpr (IsVector<M>::value) {
            using E = typename IsVector<M>::Element;
            if constexpr (std::is_same_v<E, std::string>) {
                w.set_string_vector(pos, v);
            } else if constexpr (std::is_same_v<E, double>) {
                w.set_double_vector(pos, v);
            } else if constexpr (std::is_floating_point_v<E>) {
                std::vector<double> tmp(v.begin(), v.end());
                w.set_double_vector(pos, tmp);
            } else if constexpr (std::is_same_v<E, int64_t>) {
                w.set_int_vector(pos, v);
            } else {
                std::vector<int64_t> tmp(v.begin(), v.end());
                w.set_int_vector(pos, tmp);
            }
        }
    }
    static void read(const ObjectReader& r, int pos, M& out) {
        if constexpr (IsOptional<M>::value) {
            if (r.is_null(pos)) {
                out.reset();
            } else {
                typename M::value_type x{};
                FieldCodec<typename M::value_type>::read(r, pos, x);
                out = std::move(x);
            }
        } else if constexpr (std::is_same_v<M, bool>) {
            out = r.get_bool(pos);
        } else if constexpr (std::is_integral_v<M>) {
            out = static_cast<M>(r.get_int(pos));
        } else if constexpr (std::is_floating_point_v<M>) {
            out = static_cast<M>(r.get_double(pos));
        } else if constexpr (std::is_same_v<M, std::string>) {
            out.assign(r.get_string(pos));
        } else if constexpr (std::is_same_v<M, Flex>) {
            out = r.get_flex(pos);
        } else if constexpr (IsToOne<M>::value) {
            out.id = static_cast<uint64_t>(r.get_int(pos));
        } else if constexpr (std::is_same_v<M, std::vector<uint8_t>>) {
            auto b = r.get_bytes(pos);
            out.assign(b.begin(), b.end());
        } else if constexpr (IsVector<M>::value) {
            using E = typename IsVector<M>::Element;
            if constexpr (std::is_same_v<E, std::string>) {
                out = r.get_string_vector(pos);
            } else if constexpr (std::is_floating_point_v<E>) {
                auto d = r.get_double_vector(pos);
                out.assign(d.begin(), d.end());
            } else {
                auto d = r.get_int_vector(pos);
                out.assign(d.begin(), d.end());
            }
        }
    }
};

}  // namespace detail

template <typename T>
class Box {
  public:
    // Binds T to its entity in STORE's model; check status() before use or let each call report it.
    explicit Box(std::shared_ptr<Store> store) : store_(std::move(store)) { bind(); }

    const Status& status() const { return status_; }
    DynamicBox& dynamic() { return *dyn_; }

    Result<uint64_t> put(WriteTxn& txn, T& object, PutMode mode = PutMode::kPut) {
        OUTPOST_RETURN_IF_ERROR(status_);
        uint64_t id = id_slot_ >= 0 ? read_id(object) : 0;
        OUTPOST_ASSIGN_OR_RETURN(id, dyn_->put_with(txn, id, mode, [&](ObjectWriter& w) {
            for_each_field([&](auto f, const Slot& s) {
                if (s.kind == Slot::kProperty) {
                    using M = std::remove_cvref_t<decltype(object.*(f.member))>;
                    detail::FieldCodec<M>::write(w, s.pos, object.*(f.member));
                }
            });
            return Status::ok();
        }));
        write_id(object, id);
        Status st;
        for_each_field([&](auto f, const Slot& s) {
            if (s.kind != Slot::kToMany || !st.is_ok()) return;
            using M = std::remove_cvref_t<decltype(object.*(f.member))>;
            if constexpr (detail::IsToMany<M>::value) {
                st = dyn_->set_to_many(txn, s.pos, id, (object.*(f.member)).ids);
            }
        });
        OUTPOST_RETURN_IF_ERROR(st);
        return id;
    }

    Status put_many(WriteTxn& txn, std::vector<T>& objects, PutMode mode = PutMode::kPut) {
        for (auto& o : objects) OUTPOST_RETURN_IF_ERROR(put(txn, o, mode).status());
        return Status::ok();
    }

    Result<std::optional<T>> get(Txn& txn, uint64_t id) {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(auto reader, dyn_->read(txn, id));
        if (!reader) return std::optional<T>();
        OUTPOST_ASSIGN_OR_RETURN(T object, from_reader(txn, id, *reader));
        return std::optional<T>(std::move(object));
    }

    // The object ID that READER reads (its to-many lists are read in TXN).
    Result<T> from_reader(Txn& txn, uint64_t id, const ObjectReader& reader) {
        OUTPOST_RETURN_IF_ERROR(status_);
        T object{};
        write_id(object, id);
        Status st;
        for_each_field([&](auto f, const Slot& s) {
            using M = std::remove_cvref_t<decltype(object.*(f.member))>;
            if (s.kind == Slot::kProperty) {
                detail::FieldCodec<M>::read(reader, s.pos, object.*(f.member));
            } else if (s.kind == Slot::kToMany) {
                if constexpr (detail::IsToMany<M>::value) {
                    auto ids = dyn_->get_to_many(txn, s.pos, id);
                    if (ids) {
                        (object.*(f.member)).ids = std::move(ids).value();
                    } else {
                        st = ids.status();
                    }
                }
            }
        });
        OUTPOST_RETURN_IF_ERROR(st);
        return object;
    }

    Result<std::vector<std::optional<T>>> get_many(Txn& txn, std::span<const uint64_t> ids) {
        std::vector<std::optional<T>> out;
        out.reserve(ids.size());
        for (uint64_t id : ids) {
            OUTPOST_ASSIGN_OR_RETURN(auto o, get(txn, id));
            out.push_back(std::move(o));
        }
        return out;
    }

    Result<std::vector<T>> get_all(Txn& txn) {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(auto ids, dyn_->ids(txn));
        std::vector<T> out;
        out.reserve(ids.size());
        for (uint64_t id : ids) {
            OUTPOST_ASSIGN_OR_RETURN(auto o, get(txn, id));
            if (o) out.push_back(std::move(*o));
        }
        return out;
    }

    Result<bool> contains(Txn& txn, uint64_t id) { return dyn_->contains(txn, id); }
    Result<uint64_t> count(Txn& txn) { return dyn_->count(txn); }
    Result<bool> remove(WriteTxn& txn, uint64_t id) { return dyn_->remove(txn, id); }
    Result<uint64_t> remove_many(WriteTxn& txn, std::span<const uint64_t> ids) {
        return dyn_->remove_many(txn, ids);
    }
    Result<uint64_t> remove_all(WriteTxn& txn) { return dyn_->remove_all(txn); }

    // Convenience forms, each in a transaction of its own.
    Result<uint64_t> put(T& object, PutMode mode = PutMode::kPut) {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store_->begin_write());
        OUTPOST_ASSIGN_OR_RETURN(uint64_t id, put(txn, object, mode));
        OUTPOST_RETURN_IF_ERROR(txn.commit());
        return id;
    }
    Status put_many(std::vector<T>& objects, PutMode mode = PutMode::kPut) {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store_->begin_write());
        OUTPOST_RETURN_IF_ERROR(put_many(txn, objects, mode));
        return txn.commit();
    }
    Result<std::optional<T>> get(uint64_t id) {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
        return get(txn, id);
    }
    Result<std::vector<T>> get_all() {
        OUTPOST_RETURN_IF_ERROR(status_);
        OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
        return get_all(txn);
    }
    Result<bool> remove(uint64_t id) {
        OUTPOST_RETURN_IF_ERROR(status_);
        return dyn_->remove(id);
    }
    Result<uint64_t> count() {
        OUTPOST_RETURN_IF_ERROR(status_);
        return dyn_->count();
    }

  private:
    struct Slot {
        enum Kind { kProperty, kToMany, kId } kind = kProperty;
        int pos = 0;
    };
    static constexpr auto kFields = Binding<T>::fields();
    static constexpr size_t kFieldCount = std::tuple_size_v<decltype(kFields)>;

    template <typename Fn>
    void for_each_field(Fn&& fn) {
        for_each_impl(fn, std::make_index_sequence<kFieldCount>());
    }
    template <typename Fn, size_t... I>
    void for_each_impl(Fn& fn, std::index_sequence<I...>) {
        (fn(std::get<I>(kFields), slots_[I]), ...);
    }

    uint64_t read_id(const T& object) {
        uint64_t id = 0;
        for_each_field([&](auto f, const Slot& s) {
            using M = std::remove_cvref_t<decltype(object.*(f.member))>;
            if constexpr (std::is_integral_v<M>) {
                if (s.kind == Slot::kId) id = static_cast<uint64_t>(object.*(f.member));
            }
        });
        return id;
    }
    void write_id(T& object, uint64_t id) {
        for_each_field([&](auto f, const Slot& s) {
            using M = std::remove_cvref_t<decltype(object.*(f.member))>;
            if constexpr (std::is_integral_v<M>) {
                if (s.kind == Slot::kId) object.*(f.member) = static_cast<M>(id);
            }
        });
    }

    void bind() {
        auto box = store_->box(Binding<T>::kEntityName);
        if (!box) {
            status_ = box.status();
            return;
        }
        dyn_.emplace(std::move(box).value());
        const Entity& e = dyn_->entity();
        for_each_field([&](auto f, Slot& s) {
            if (!status_.is_ok()) return;
            using M = std::remove_cvref_t<decltype(std::declval<T&>().*(f.member))>;
            for (size_t i = 0; i < e.properties.size(); ++i) {
                const Property& p = e.properties[i];
                if (p.name != f.name) continue;
                s.pos = static_cast<int>(i);
                if (p.has(kFlagId)) {
                    s.kind = Slot::kId;
                    id_slot_ = s.pos;
                    if (!std::is_integral_v<M>) status_ = mismatch(e, f.name, "an integer id");
                } else {
                    s.kind = Slot::kProperty;
                    if (!detail::FieldCodec<M>::accepts(p.type)) {
                        status_ = mismatch(e, f.name, std::string(property_type_name(p.type)));
                    }
                }
                return;
            }
            for (size_t i = 0; i < e.relations.size(); ++i) {
                if (e.relations[i].name != f.name) continue;
                s.kind = Slot::kToMany;
                s.pos = static_cast<int>(i);
                if (!detail::IsToMany<M>::value) status_ = mismatch(e, f.name, "ToMany<...>");
                return;
            }
            status_ = Status(ErrorCode::kUnknownProperty,
                             "binding of " + e.name + ": the model has no property or relation \"" +
                                 std::string(f.name) + "\"");
        });
    }
    static Status mismatch(const Entity& e, std::string_view field, const std::string& want) {
        return Status(ErrorCode::kTypeMismatch, "binding of " + e.name + "." + std::string(field) +
                                                    ": the member's C++ type does not fit " + want);
    }

    std::shared_ptr<Store> store_;
    std::optional<DynamicBox> dyn_;
    Status status_;
    Slot slots_[kFieldCount];
    int id_slot_ = -1;
};

}  // namespace outpost

// OUTPOST_ENTITY(Type, member...): binds struct Type to the entity named "Type", each member to the
// property (or to-many relation) of the same name. OUTPOST_ENTITY_AS(Type, "Entity", field(...)...)
// binds with explicit names: OUTPOST_ENTITY_AS(Task, "Task", outpost::field("dateCreated",
// &Task::created)).
#define OUTPOST_PARENS ()
#define OUTPOST_EXPAND(...) \
    OUTPOST_EXPAND3(OUTPOST_EXPAND3(OUTPOST_EXPAND3(OUTPOST_EXPAND3(__VA_ARGS__))))
#define OUTPOST_EXPAND3(...) \
    OUTPOST_EXPAND2(OUTPOST_EXPAND2(OUTPOST_EXPAND2(OUTPOST_EXPAND2(__VA_ARGS__))))
#define OUTPOST_EXPAND2(...) \
    OUTPOST_EXPAND1(OUTPOST_EXPAND1(OUTPOST_EXPAND1(OUTPOST_EXPAND1(__VA_ARGS__))))
#define OUTPOST_EXPAND1(...) __VA_ARGS__
#define OUTPOST_FOR_EACH(macro, type, ...) \
    __VA_OPT__(OUTPOST_EXPAND(OUTPOST_FOR_EACH_HELPER(macro, type, __VA_ARGS__)))
#define OUTPOST_FOR_EACH_HELPER(macro, type, a1, ...) \
    macro(type, a1) __VA_OPT__(, OUTPOST_FOR_EACH_AGAIN OUTPOST_PARENS(macro, type, __VA_ARGS__))
#define OUTPOST_FOR_EACH_AGAIN() OUTPOST_FOR_EACH_HELPER
#define OUTPOST_FIELD_OF(type, member) ::outpost::field(#member, &type::member)

#define OUTPOST_ENTITY_AS(Type, name, ...)                                      \
    template <>                                                                 \
    struct outpost::Binding<Type> {                                             \
        static constexpr std::string_view kEntityName = name;                   \
        static constexpr auto fields() { return std::make_tuple(__VA_ARGS__); } \
    };
#define OUTPOST_ENTITY(Type, ...) \
    OUTPOST_ENTITY_AS(Type, #Type, OUTPOST_FOR_EACH(OUTPOST_FIELD_OF, Type, __VA_ARGS__))
