build-dev/obj/lib/crypto/kdf.o: lib/crypto/kdf.c lib/crypto/kdf.h \
 lib/crypto/kdf_hugepages.h lib/sys/conf.h lib/sys/log.h lib/base/mem.h \
 lib/base/rnd.h
lib/crypto/kdf.h:
lib/crypto/kdf_hugepages.h:
lib/sys/conf.h:
lib/sys/log.h:
lib/base/mem.h:
lib/base/rnd.h:
