build-dev/obj/lib/base/bech32.o: lib/base/bech32.c lib/base/bech32.h \
 lib/base/mem.h
lib/base/bech32.h:
lib/base/mem.h:
