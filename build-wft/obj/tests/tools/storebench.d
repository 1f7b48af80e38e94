build-wft/obj/tests/tools/storebench.o: tests/tools/storebench.c \
 lib/crypto/age.h lib/base/buf.h lib/base/rnd.h lib/data/spool.h \
 lib/data/store.h /usr/include/sqlcipher/sqlite3.h lib/base/timeutil.h
lib/crypto/age.h:
lib/base/buf.h:
lib/base/rnd.h:
lib/data/spool.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/timeutil.h:
