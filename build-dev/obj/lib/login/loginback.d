build-dev/obj/lib/login/loginback.o: lib/login/loginback.c \
 lib/login/loginback.h lib/sys/conf.h lib/sys/conn.h lib/base/buf.h \
 lib/login/login.h lib/sys/io.h lib/sys/server.h lib/sys/conf.h \
 sandbox/sandbox.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/data/account.h lib/data/directory.h lib/proto/addr.h \
 lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h lib/crypto/kdf.h \
 lib/sys/log.h lib/svc/confine.h
lib/login/loginback.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/base/buf.h:
lib/login/login.h:
lib/sys/io.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/data/account.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
lib/crypto/kdf.h:
lib/sys/log.h:
lib/svc/confine.h:
