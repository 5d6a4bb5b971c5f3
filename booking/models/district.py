from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core.db import Base


class District(Base):
    """A Chongqing district or county (GB/T 2260 code), loaded as reference data by the migration."""

    __tablename__ = "districts"
    __table_args__ = (CheckConstraint("kind IN ('district', 'county')", name="kind"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))

    def display_name(self, locale: str) -> str:
        return self.name_zh if str(locale).startswith("zh") else self.name_en
