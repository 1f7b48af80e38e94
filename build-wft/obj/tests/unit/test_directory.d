build-wft/obj/tests/unit/test_directory.o: tests/unit/test_directory.c \
 /usr/include/sqlcipher/sqlite3.h lib/data/directory.h lib/proto/addr.h \
 lib/base/buf.h
/usr/include/sqlcipher/sqlite3.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
