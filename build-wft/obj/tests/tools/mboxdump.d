build-wft/obj/tests/tools/mboxdump.o: tests/tools/mboxdump.c \
 lib/data/account.h lib/sys/conf.h lib/data/directory.h lib/proto/addr.h \
 lib/base/buf.h lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/sys/log.h lib/data/store.h
lib/data/account.h:
lib/sys/conf.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/sys/log.h:
lib/data/store.h:
