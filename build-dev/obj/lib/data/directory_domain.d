build-dev/obj/lib/data/directory_domain.o: lib/data/directory_domain.c \
 lib/data/directory_int.h /usr/include/sqlcipher/sqlite3.h \
 lib/data/directory.h lib/proto/addr.h lib/base/buf.h lib/data/dirindex.h \
 lib/base/mem.h
lib/data/directory_int.h:
/usr/include/sqlcipher/sqlite3.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/data/dirindex.h:
lib/base/mem.h:
