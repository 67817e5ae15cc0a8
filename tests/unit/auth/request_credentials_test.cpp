#include "auth/request_credentials.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using namespace gw::auth;

TEST_CASE("percent decoding handles escapes, plus signs and bad escapes") {
    CHECK(percent_decode("a%2Bb%3d%3D", false) == std::string("a+b=="));
    CHECK(percent_decode("a+b", false) == std::string("a+b"));
    CHECK(percent_decode("a+b", true) == std::string("a b"));
    CHECK(percent_decode("%00", false) == std::string("\0", 1));
    CHECK_FALSE(percent_decode("%", false));
    CHECK_FALSE(percent_decode("%4", false));
    CHECK_FALSE(percent_decode("ab%4", false));
    CHECK_FALSE(percent_decode("%zz", false));
}

TEST_CASE("query parameters are found by decoded name and returned still escaped") {
    CHECK(find_query_param("/s?access_token=abc", "access_token") == std::string_view("abc"));
    CHECK(find_query_param("/s?x=1&access_token=a%2Eb&y=2", "access_token") == std::string_view("a%2Eb"));
    CHECK(find_query_param("/s?access%5Ftoken=abc", "access_token") == std::string_view("abc"));
    CHECK(find_query_param("/s?access_token=first&access_token=second", "access_token") == std::string_view("first"));
    CHECK(find_query_param("/s?access_token", "access_token") == std::string_view(""));
    CHECK(find_query_param("/s?access_token=abc#frag", "access_token") == std::string_view("abc"));
    CHECK_FALSE(find_query_param("/s", "access_token"));
    CHECK_FALSE(find_query_param("/s?", "access_token"));
    CHECK_FALSE(find_query_param("/s?xaccess_token=1&access_tokenx=2", "access_token"));
    CHECK_FALSE(find_query_param("/access_token=1", "access_token"));
}

TEST_CASE("cookies are parsed as name=value pairs across every Cookie header") {
    http::fields f;
    f.insert(http::field::cookie, "a=1; _app_session=abc%3D%3D;b=2");
    f.insert(http::field::cookie, "later=\"quoted\"; _app_session=second");
    CHECK(find_cookie(f, "_app_session") == std::string_view("abc%3D%3D"));
    CHECK(find_cookie(f, "a") == std::string_view("1"));
    CHECK(find_cookie(f, "b") == std::string_view("2"));
    CHECK(find_cookie(f, "later") == std::string_view("quoted"));
    CHECK_FALSE(find_cookie(f, "_app"));
    CHECK_FALSE(find_cookie(f, "session"));
    CHECK_FALSE(find_cookie(f, "1"));

    http::fields g;
    g.insert(http::field::cookie, "x_app_session=evil; flag; =nameless; _app_session=");
    CHECK(find_cookie(g, "_app_session") == std::string_view(""));
    CHECK_FALSE(find_cookie(g, "flag"));
    CHECK_FALSE(find_cookie(http::fields{}, "_app_session"));
}

TEST_CASE("the bearer token comes only from the Bearer scheme") {
    http::fields f;
    f.set(http::field::authorization, "Bearer abc.def.ghi");
    CHECK(find_bearer_token(f) == std::string_view("abc.def.ghi"));
    f.set(http::field::authorization, "bearer   abc ");
    CHECK(find_bearer_token(f) == std::string_view("abc"));
    f.set(http::field::authorization, "Basic dXNlcjpwYXNz");
    CHECK_FALSE(find_bearer_token(f));
    f.set(http::field::authorization, "Bearer");
    CHECK_FALSE(find_bearer_token(f));
    f.set(http::field::authorization, "Bearer    ");
    CHECK_FALSE(find_bearer_token(f));
    f.set(http::field::authorization, "Bearerabc");
    CHECK_FALSE(find_bearer_token(f));
    CHECK_FALSE(find_bearer_token(http::fields{}));
}
